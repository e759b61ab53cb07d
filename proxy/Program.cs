using SecretlessProxy.Cli;

return await CliApp.RunAsync(args);
