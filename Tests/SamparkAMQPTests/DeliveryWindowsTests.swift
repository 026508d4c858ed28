import Testing
@testable import SamparkAMQP

/// The bookkeeping behind coalesced acks and the confirm window (pure logic; the
/// integration tests in AMQPSettlementTests prove the broker agrees).
@Suite struct DeliveryWindowsTests {
    private func window(delivered tags: ClosedRange<UInt64>) -> AckWindow {
        var window = AckWindow()
        for tag in tags { window.delivered(tag) }
        return window
    }

    @Test func acksInOrderBecomeOneMultipleAck() {
        var acks = window(delivered: 1...10)
        for tag in UInt64(1)...10 { let held = acks.deferAck(tag); #expect(held) }
        let sent = acks.takePending()
        #expect(sent.upTo == 10)
        #expect(sent.singles.isEmpty)
        #expect(!acks.hasPending)
    }

    @Test func anUnsettledTagStopsTheRunAndLaterAcksGoSingly() {
        var acks = window(delivered: 1...6)
        for tag: UInt64 in [1, 2, 4, 6] { let held = acks.deferAck(tag); #expect(held) }
        let sent = acks.takePending()
        // 3 is still the application's: a multiple ack at 4 or 6 would settle it too.
        #expect(sent.upTo == 2)
        #expect(sent.singles == [4, 6])
        // Once 3 is acked, the next run starts at 3 and covers the already-settled 4.
        let r1 = acks.deferAck(3)
        #expect(r1)
        let r2 = acks.deferAck(5)
        #expect(r2)
        let next = acks.takePending()
        #expect(next.upTo == 5)
        #expect(next.singles.isEmpty)
    }

    @Test func aRunMayStepOverTagsSettledEarlier() {
        var acks = window(delivered: 1...4)
        acks.settled(2, multiple: false)      // say, rejected at once
        let r3 = acks.deferAck(1)
        #expect(r3)
        let r4 = acks.deferAck(3)
        #expect(r4)
        let sent = acks.takePending()
        #expect(sent.upTo == 3)
        #expect(sent.singles.isEmpty)
    }

    @Test func aSecondAckOfTheSameTagIsNotHeld() {
        var acks = window(delivered: 1...3)
        let r5 = acks.deferAck(2)
        #expect(r5)
        let r6 = acks.deferAck(2)
        #expect(!r6)            // pending already: goes to the broker, which refuses it
        _ = acks.takePending()
        let r7 = acks.deferAck(2)
        #expect(!r7)            // settled
        let r8 = acks.deferAck(9)
        #expect(!r8)            // never delivered
    }

    @Test func multipleSettlementCoversEverythingBelow() {
        var acks = window(delivered: 1...5)
        acks.settled(3, multiple: true)
        let r9 = acks.deferAck(1)
        #expect(!r9)
        let r10 = acks.deferAck(4)
        #expect(r10)
        let last = acks.takePending()
        #expect(last.upTo == 4)
    }

    @Test func tagsOutOfSequenceTurnCoalescingOff() {
        var acks = AckWindow()
        acks.delivered(1)
        acks.delivered(3)
        let r11 = acks.deferAck(1)
        #expect(!r11)
        let r12 = acks.deferAck(3)
        #expect(!r12)
    }

    @Test func confirmWindowSettlesOutOfOrderAndRestartsNumbering() {
        let messages = (0..<5).map { OutgoingMessage(exchange: "", routingKey: "q", body: "\($0)") }
        let batch = PublishBatch(messages: messages, continuation: nil)
        var window = ConfirmWindow()
        for index in messages.indices {
            let sequence = window.append(PendingPublish(batch: batch, index: index))
            #expect(sequence == UInt64(index + 1))
        }
        let r13 = window.remove(3)?.index == 2
        #expect(r13)
        #expect(window.lowest == 1)
        let r14 = window.remove(1)?.index == 0
        #expect(r14)
        #expect(window.lowest == 2)
        let r15 = window.remove(3) == nil
        #expect(r15)
        #expect(window.firstSequence { _, publish in publish.index >= 3 } == 4)
        let rest = window.removeAll().map(\.index)
        #expect(rest == [1, 3, 4])
        #expect(window.isEmpty)
        let restarted = window.append(PendingPublish(batch: batch, index: 0))
        #expect(restarted == 1)
    }
}
