using System.Diagnostics;
using System.Globalization;

namespace SecretlessProxy.Testing;

/// <summary>
/// Waits for a condition instead of sleeping for a guessed time: polls it briefly until it holds, and fails with
/// a message naming what was awaited when it does not hold in time. An exception thrown by the condition (a failed
/// assertion inside it) ends the wait at once and is not swallowed.
/// </summary>
internal static class Eventually
{
    /// <summary>How long a wait lasts unless the caller says otherwise: generous, for a loaded machine.</summary>
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(20);

    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(50);

    /// <summary>Waits until <paramref name="condition"/> holds.</summary>
    /// <param name="what">What is awaited, as the end of "timed out waiting until ..." (e.g. "replica B hears of the revocation").</param>
    /// <param name="timeout">How long to wait; <see cref="DefaultTimeout"/> when null.</param>
    /// <param name="lastSeen">What to add to the failure message (evaluated on timeout: the state the condition last saw).</param>
    /// <exception cref="TimeoutException">The condition did not hold within the timeout.</exception>
    public static Task Until(Func<bool> condition, string what, TimeSpan? timeout = null, Func<string>? lastSeen = null)
    {
        ArgumentNullException.ThrowIfNull(condition);
        return Until(() => Task.FromResult(condition()), what, timeout, lastSeen);
    }

    /// <summary>Waits until the asynchronous <paramref name="condition"/> holds (each check runs to its end before the next).</summary>
    /// <param name="what">What is awaited, as the end of "timed out waiting until ...".</param>
    /// <param name="timeout">How long to wait; <see cref="DefaultTimeout"/> when null.</param>
    /// <param name="lastSeen">What to add to the failure message (evaluated on timeout: the state the condition last saw).</param>
    /// <exception cref="TimeoutException">The condition did not hold within the timeout.</exception>
    public static async Task Until(Func<Task<bool>> condition, string what, TimeSpan? timeout = null, Func<string>? lastSeen = null)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var limit = timeout ?? DefaultTimeout;
        var watch = Stopwatch.StartNew();
        while (true)
        {
            // Checked once more after the deadline passed: a slow check that started in time still counts.
            var expired = watch.Elapsed >= limit;
            if (await condition())
            {
                return;
            }
            if (expired)
            {
                var seconds = limit.TotalSeconds.ToString("0.###", CultureInfo.InvariantCulture);
                var detail = lastSeen is null ? "" : "\n" + lastSeen();
                throw new TimeoutException($"timed out after {seconds} s waiting until {what}{detail}");
            }
            await Task.Delay(PollInterval);
        }
    }
}
