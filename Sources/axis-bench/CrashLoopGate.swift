import Axis

/// Which axisd the crash-loop drivers may talk to: each restart opens a new generation with the
/// API port it reported; the coordinator closes the generation *before* it sends SIGKILL, so a
/// driver whose request fails can tell a failure the kill caused (its generation is closed) from
/// one it did not (still open: a violation).
final class CrashLoopGate: @unchecked Sendable {
    private let lock = ConditionLock()
    private var generation = 0
    private var port: UInt16 = 0
    private var live = false
    private var finished = false

    /// Blocks until a generation newer than `after` is open; nil once the run is finished.
    func awaitLive(after: Int) -> (generation: Int, port: UInt16)? {
        lock.withLock {
            while true {
                if finished { return nil }
                if live && generation > after { return (generation, port) }
                lock.wait()
            }
        }
    }

    /// Whether generation `g` is still open (not being killed, not finished).
    func isLive(_ g: Int) -> Bool { lock.withLock { live && generation == g } }

    /// Opens a new generation on `port`; returns its number.
    @discardableResult
    func open(port: UInt16) -> Int {
        lock.withLock {
            generation += 1
            self.port = port
            live = true
            lock.broadcast()
            return generation
        }
    }

    /// Closes the open generation (call before the kill).
    func close() { lock.withLock { live = false } }

    /// Ends the run: every driver returns once its current request is answered.
    func finish() {
        lock.withLock {
            live = false
            finished = true
            lock.broadcast()
        }
    }
}

/// Spaces submissions `intervalNanos` apart across all submitter threads (open loop at a fixed
/// rate, so a kill finds submissions under way however fast axisd answers); never bursts to catch up.
final class CrashLoopPacer: @unchecked Sendable {
    private let lock = ConditionLock()
    private var next: UInt64 = 0
    private let intervalNanos: UInt64

    init(perSecond: Double) { intervalNanos = UInt64(1e9 / perSecond) }

    /// Sleeps until this caller's slot.
    func waitForSlot() {
        let slot: UInt64 = lock.withLock {
            let now = SystemClock.monotonicNanos()
            let slot = max(now, next)
            next = slot + intervalNanos
            return slot
        }
        sleep(untilMonotonicNanos: slot)
    }
}
