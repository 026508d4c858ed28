/// The publishes awaiting their confirm on the publishing channel, by sequence number.
///
/// Under publisher confirms the broker numbers a channel's publishes 1, 2, 3... and confirms
/// them mostly in order, so an array from the lowest unconfirmed sequence number holds them:
/// O(1) to add and to settle, no hashing per message.
struct ConfirmWindow {
    private var slots: [PendingPublish?] = []
    private var head = 0
    /// The sequence number of `slots[head]`.
    private var base: UInt64 = 1

    var isEmpty: Bool { head == slots.count }
    var count: Int { slots.count - head }

    /// The lowest sequence number still awaiting its confirm.
    var lowest: UInt64? { isEmpty ? nil : base }

    /// Records the next publish and returns its sequence number.
    mutating func append(_ publish: PendingPublish) -> UInt64 {
        slots.append(publish)
        return base + UInt64(slots.count - head - 1)
    }

    mutating func remove(_ sequence: UInt64) -> PendingPublish? {
        guard sequence >= base, sequence < base + UInt64(count) else { return nil }
        let index = head + Int(sequence - base)
        let publish = slots[index]
        slots[index] = nil
        while head < slots.count && slots[head] == nil {
            head += 1
            base += 1
        }
        if head > 1024 && head * 2 > slots.count {
            slots.removeFirst(head)
            head = 0
        }
        return publish
    }

    /// The first awaiting publish, in sequence order, that satisfies `predicate`.
    func firstSequence(where predicate: (UInt64, PendingPublish) -> Bool) -> UInt64? {
        for index in head..<slots.count {
            let sequence = base + UInt64(index - head)
            if let publish = slots[index], predicate(sequence, publish) { return sequence }
        }
        return nil
    }

    /// Everything awaiting, in sequence order; numbering restarts at 1 (a new channel).
    mutating func removeAll() -> [PendingPublish] {
        let all = slots[head...].compactMap { $0 }
        slots = []
        head = 0
        base = 1
        return all
    }
}

/// The delivery tags of one consumer's channel, from the lowest not yet settled to the last
/// delivered, so that acks the application gives one by one reach the broker as few
/// `multiple` acks.
///
/// RabbitMQ numbers the deliveries of a channel 1, 2, 3...; an ack with `multiple` set
/// settles every unsettled tag up to its own. The acks taken in one turn of the connection's
/// loop go out as one multiple ack for the longest run, from the lowest unsettled tag, in
/// which every tag is acked now or was settled before, and as single acks for the rest.
/// Nothing is settled that the application did not settle, and no ack waits past the turn
/// it arrived in. Nacks, rejects and the application's own multiple settlements are sent at
/// once (after the pending acks) and only recorded here.
///
/// The window grows by one byte per delivery while its lowest tag stays unsettled; the
/// broker's prefetch limit bounds how far that goes.
struct AckWindow {
    private enum State: UInt8 { case open, pending, settled }
    private var states: [State] = []
    private var head = 0
    /// The delivery tag of `states[head]`.
    private var base: UInt64 = 1
    /// False if tags ever arrived out of sequence: then every ack is sent as it comes.
    private var usable = true
    private(set) var hasPending = false

    private var end: UInt64 { base + UInt64(states.count - head) }

    private func index(of tag: UInt64) -> Int? {
        guard usable, tag >= base, tag < end else { return nil }
        return head + Int(tag - base)
    }

    mutating func delivered(_ tag: UInt64) {
        guard usable else { return }
        guard tag == end else {
            usable = false
            states = []
            head = 0
            return
        }
        states.append(.open)
    }

    /// Holds a single ack for the end of the turn; false if it must be sent at once (an
    /// unknown or already settled tag, for which the broker's answer is the right one).
    mutating func deferAck(_ tag: UInt64) -> Bool {
        guard let index = index(of: tag), states[index] == .open else { return false }
        states[index] = .pending
        hasPending = true
        return true
    }

    /// Records a settlement sent at once: `tag` alone, or with `multiple` every tag up to it.
    mutating func settled(_ tag: UInt64, multiple: Bool) {
        guard usable, tag >= base else { return }
        let last = min(tag, end - 1)
        guard last >= base else { return }
        if multiple {
            for index in head...(head + Int(last - base)) { states[index] = .settled }
        } else if let index = index(of: tag) {
            states[index] = .settled
        }
        trim()
    }

    /// The acks to send now for what is pending: at most one multiple ack (its tag), then
    /// single acks.
    mutating func takePending() -> (upTo: UInt64?, singles: [UInt64]) {
        guard hasPending else { return (nil, []) }
        hasPending = false
        var runEnd = head
        var upTo: UInt64?
        var index = head
        while index < states.count && states[index] != .open {
            if states[index] == .pending {
                upTo = base + UInt64(index - head)
                runEnd = index + 1
            }
            index += 1
        }
        for i in head..<runEnd { states[i] = .settled }
        var singles: [UInt64] = []
        for i in runEnd..<states.count where states[i] == .pending {
            singles.append(base + UInt64(i - head))
            states[i] = .settled
        }
        trim()
        return (upTo, singles)
    }

    private mutating func trim() {
        while head < states.count && states[head] == .settled {
            head += 1
            base += 1
        }
        if head > 4096 && head * 2 > states.count {
            states.removeFirst(head)
            head = 0
        }
    }
}
