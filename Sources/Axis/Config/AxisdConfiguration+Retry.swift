extension AxisdConfiguration.Delivery {
    /// The push scheduler's policy from these settings. The retry arithmetic (docs/CONFIGURATION.md,
    /// "Retries") lives in one place, `RetryPolicy.delayMillis(afterAttempt:random:)`.
    public var retryPolicy: RetryPolicy {
        var policy = RetryPolicy()
        policy.initialBackoffMillis = backoffMillisInitial
        policy.maxBackoffMillis = backoffMillisMax
        policy.multiplier = backoffMultiplier
        policy.jitter = jitterFraction
        policy.maxLifetimeMillis = lifetimeMillisMax
        policy.perRecipientConcurrency = concurrencyPerRecipientMax
        policy.totalConcurrency = workers
        return policy
    }
}
