import Testing
@testable import SamparkPostgres

@Suite struct PoolStateMachineTests {
    @Test func opensUpToCapacityThenQueues() {
        var machine = PoolStateMachine<String>(capacity: 2)
        guard case .open = machine.lease(waiter: 1) else { Issue.record("expected open"); return }
        guard case .open = machine.lease(waiter: 2) else { Issue.record("expected open"); return }
        guard case .wait = machine.lease(waiter: 3) else { Issue.record("expected wait"); return }
        guard case .wait = machine.lease(waiter: 4) else { Issue.record("expected wait"); return }
        #expect(machine.open == 2)
        #expect(machine.waiters == [3, 4])
    }

    @Test func releaseHandsToTheOldestWaiterFirst() {
        var machine = PoolStateMachine<String>(capacity: 1)
        _ = machine.lease(waiter: 1)
        _ = machine.lease(waiter: 2)
        _ = machine.lease(waiter: 3)
        let first = machine.release("c", broken: false)
        guard case (2, .use("c"))? = first.wake.map({ ($0.waiter, $0.grant) }) else { Issue.record("expected waiter 2"); return }
        // A newcomer queues behind waiter 3 even though nothing is idle to take anyway.
        guard case .wait = machine.lease(waiter: 4) else { Issue.record("expected wait"); return }
        let second = machine.release("c", broken: false)
        #expect(second.wake?.waiter == 3)
        let third = machine.release("c", broken: false)
        #expect(third.wake?.waiter == 4)
        let fourth = machine.release("c", broken: false)
        #expect(fourth.wake == nil && fourth.close == nil)
        #expect(machine.idle == ["c"])
        guard case .use("c") = machine.lease(waiter: 5) else { Issue.record("expected idle reuse"); return }
    }

    @Test func brokenConnectionFreesItsSlotForAWaiter() {
        var machine = PoolStateMachine<String>(capacity: 1)
        _ = machine.lease(waiter: 1)
        _ = machine.lease(waiter: 2)
        let action = machine.release("dead", broken: true)
        #expect(action.close == "dead")
        guard case (2, .open)? = action.wake.map({ ($0.waiter, $0.grant) }) else { Issue.record("expected open grant"); return }
        #expect(machine.open == 1)
    }

    @Test func failedOpenLetsTheNextWaiterTry() {
        var machine = PoolStateMachine<String>(capacity: 1)
        _ = machine.lease(waiter: 1)
        _ = machine.lease(waiter: 2)
        let action = machine.openFailed()
        guard case (2, .open)? = action.wake.map({ ($0.waiter, $0.grant) }) else { Issue.record("expected open grant"); return }
        let last = machine.openFailed()
        #expect(last.wake == nil)
        #expect(machine.open == 0)
    }

    @Test func cancelledWaiterIsSkipped() {
        var machine = PoolStateMachine<String>(capacity: 1)
        _ = machine.lease(waiter: 1)
        _ = machine.lease(waiter: 2)
        _ = machine.lease(waiter: 3)
        let firstCancel = machine.cancel(waiter: 2)
        let secondCancel = machine.cancel(waiter: 2)
        #expect(firstCancel)
        #expect(!secondCancel)
        let released = machine.release("c", broken: false)
        #expect(released.wake?.waiter == 3)
    }

    @Test func shutdownFailsWaitersAndClosesReturns() {
        var machine = PoolStateMachine<String>(capacity: 2)
        _ = machine.lease(waiter: 1)
        _ = machine.lease(waiter: 2)
        _ = machine.release("a", broken: false)
        _ = machine.lease(waiter: 3)
        _ = machine.lease(waiter: 4)
        // a went to idle, then to waiter 3; waiter 4 waits.
        let (close, fail) = machine.shutdown()
        #expect(close.isEmpty)
        #expect(fail == [4])
        guard case .closed = machine.lease(waiter: 5) else { Issue.record("expected closed"); return }
        let releasedA = machine.release("a", broken: false)
        #expect(releasedA.close == "a")
    }
}
