import Synchronization

/// Lets a service's loop sleep until its next poll or until someone has work for it, and not
/// miss a wake that comes while it is busy (it then goes round again at once). Shared by the
/// outbox relay and the dispatcher.
public final class WakeSignal: Sendable {
    private let state = Mutex<(woken: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    public init() {}

    /// There is work: end the current sleep, or the next one before it starts.
    public func wake() {
        let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
            state.woken = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Sleeps until woken or `interval` has passed (or the task is cancelled).
    public func sleep(upTo interval: Duration) async {
        let timer = Task {
            // Only a sleep that ran its course wakes the loop: a cancelled timer (woken early)
            // must not, or each early wake would end the next sleep at once.
            do {
                try await Task.sleep(for: interval)
                self.wake()
            } catch {}
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let resumeNow = state.withLock { state -> Bool in
                    if state.woken { state.woken = false; return true }
                    state.waiter = continuation
                    return false
                }
                if resumeNow { continuation.resume() }
            }
        } onCancel: {
            self.wake()
        }
        state.withLock { $0.woken = false }
        timer.cancel()
    }
}
