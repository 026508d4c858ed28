/// The pool's bookkeeping as a plain value: events in, actions out, no I/O, no locks, so it
/// is tested without a server (the shape postgres-nio uses for its state machines).
///
/// Invariants: `open` (connections that exist or are being opened) never exceeds
/// `capacity`; waiters are served strictly in arrival order; a released connection goes
/// straight to the oldest waiter, so a newcomer never overtakes someone already waiting.
struct PoolStateMachine<Connection> {
    enum LeaseAction {
        /// Use this idle connection.
        case use(Connection)
        /// A slot is reserved for you: open a new connection.
        case open
        /// Everything is busy: wait until ``ReleaseAction`` names you.
        case wait
        /// The pool is shut down.
        case closed
    }

    /// What a waiter is woken with.
    enum Grant {
        case use(Connection)
        case open
    }

    struct ReleaseAction {
        /// A connection to close (broken, or returned after shutdown).
        var close: Connection?
        /// A waiter to wake, and what it gets.
        var wake: (waiter: UInt64, grant: Grant)?
    }

    let capacity: Int
    private(set) var idle: [Connection] = []
    private(set) var open = 0
    private(set) var waiters: [UInt64] = []
    private(set) var isClosed = false

    init(capacity: Int) {
        precondition(capacity > 0, "a pool needs at least one connection")
        self.capacity = capacity
    }

    /// Someone wants a connection. `waiter` identifies them if they must wait.
    mutating func lease(waiter: UInt64) -> LeaseAction {
        if isClosed { return .closed }
        // Fairness: with people already queued, a newcomer queues too (idle is then empty
        // anyway, because releases hand connections to waiters directly).
        if waiters.isEmpty {
            if let connection = idle.popLast() { return .use(connection) }
            if open < capacity {
                open += 1
                return .open
            }
        }
        waiters.append(waiter)
        return .wait
    }

    /// A connection comes back. Broken ones are closed and their slot is handed on.
    mutating func release(_ connection: Connection, broken: Bool) -> ReleaseAction {
        if isClosed || broken {
            open -= 1
            var action = ReleaseAction(close: connection)
            if !isClosed { action.wake = grantSlot() }
            return action
        }
        if !waiters.isEmpty {
            return ReleaseAction(wake: (waiters.removeFirst(), .use(connection)))
        }
        idle.append(connection)
        return ReleaseAction()
    }

    /// Opening a connection failed: its slot is free again, and the oldest waiter gets to
    /// try (otherwise waiters could wait forever for connections that will never exist).
    mutating func openFailed() -> ReleaseAction {
        open -= 1
        return ReleaseAction(wake: isClosed ? nil : grantSlot())
    }

    private mutating func grantSlot() -> (waiter: UInt64, grant: Grant)? {
        guard !waiters.isEmpty, open < capacity else { return nil }
        open += 1
        return (waiters.removeFirst(), .open)
    }

    /// A waiter gave up (its task was cancelled). True if it was still waiting.
    mutating func cancel(waiter: UInt64) -> Bool {
        guard let index = waiters.firstIndex(of: waiter) else { return false }
        waiters.remove(at: index)
        return true
    }

    /// Shuts down: returns the idle connections to close and the waiters to fail.
    mutating func shutdown() -> (close: [Connection], fail: [UInt64]) {
        isClosed = true
        let connections = idle
        open -= idle.count
        idle = []
        let failed = waiters
        waiters = []
        return (connections, failed)
    }
}
