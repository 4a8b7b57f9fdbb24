/// When push deliveries are tried again, how many run at once per recipient, and how long an item
/// may wait before it expires. Pure values and arithmetic; `PushScheduler` applies them.
public struct RetryPolicy: Equatable, Sendable {
    /// The delay after the first failed attempt.
    public var initialBackoffMillis: Int64 = 30_000
    /// No delay is longer than this.
    public var maxBackoffMillis: Int64 = 3_600_000
    /// Each further failure multiplies the delay by this.
    public var multiplier: Double = 2
    /// The fraction of a delay that is randomised (0 = exact delays, 1 = anywhere from 0 to the delay).
    /// Spreads retries of many items that failed together so a recovering endpoint is not hit by all
    /// of them in the same instant.
    public var jitter: Double = 0.2
    /// An item not delivered this long after its acceptance expires, and its sender is told.
    public var maxLifetimeMillis: Int64 = 72 * 3_600_000
    /// Attempts to one recipient in flight at once: one slow or dead endpoint holds at most this
    /// many workers, never the others' deliveries.
    public var perRecipientConcurrency: Int = 4
    /// Attempts in flight at once in the whole process (each holds a thread while it waits).
    public var totalConcurrency: Int = 64

    /// The shortest delay ever returned.
    public static let delayMillisMin: Int64 = 10

    public init() {}

    /// The delay after failed attempt number `attempt` (1 for the first): `initial × multiplier^(attempt−1)`,
    /// at most `maxBackoff`, minus a `jitter` share of it scaled by `random` (in 0..<1, injected so
    /// tests choose it). The result always lies in [(1 − jitter) · d, d], and is at least 10 ms.
    public func delayMillis(afterAttempt attempt: UInt32, random: Double) -> Int64 {
        let exponent = Double(max(attempt, 1) - 1)
        var delay = Double(initialBackoffMillis)
        // Multiply step by step and stop at the cap: no overflow however many attempts there were.
        var step = 0.0
        while multiplier > 1 && step < exponent && delay < Double(maxBackoffMillis) {
            delay *= multiplier
            step += 1
        }
        let capped = min(delay, Double(maxBackoffMillis))
        let unit = min(max(random, 0), 1)
        // Never an immediate retry, even with jitter 1.
        return max(Self.delayMillisMin, Int64((capped * (1 - jitter * unit)).rounded()))
    }

    /// When an item accepted at `acceptedAt` expires.
    public func expiry(acceptedAt: Timestamp) -> Timestamp {
        Timestamp(millis: acceptedAt.millis + maxLifetimeMillis)
    }

    /// When to try again after failed attempt `attempt` at `now`: never later than the item's
    /// expiry, so an item that cannot be delivered expires on time rather than at its next retry.
    public func retryAt(afterAttempt attempt: UInt32, now: Timestamp, acceptedAt: Timestamp, random: Double) -> Timestamp {
        let next = now.millis + delayMillis(afterAttempt: attempt, random: random)
        return Timestamp(millis: min(next, expiry(acceptedAt: acceptedAt).millis))
    }
}
