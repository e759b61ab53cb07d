using BenchmarkDotNet.Running;

// dotnet run -c Release --project loadtests/Benchmarks -- --filter '*'
BenchmarkSwitcher.FromAssembly(typeof(SecretlessProxy.Benchmarks.HotPathBenchmarks).Assembly).Run(args);
