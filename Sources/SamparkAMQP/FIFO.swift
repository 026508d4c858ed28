/// A first-in first-out queue with O(1) amortized push, pop and push-front of a batch;
/// what the connection's thread keeps its not-yet-sent publishes in.
///
/// A popped slot is cleared at once: an element left in place would keep its message body
/// alive (a publisher sending 200 batches of 500 kB held all of them, 100 MB, until the
/// queue compacted).
struct FIFO<Element> {
    private var storage: [Element?] = []
    private var head = 0

    var isEmpty: Bool { head == storage.count }
    var count: Int { storage.count - head }

    mutating func append(_ element: Element) { storage.append(element) }

    mutating func append<S: Sequence>(contentsOf elements: S) where S.Element == Element {
        storage.append(contentsOf: elements.map { Optional($0) })
    }

    mutating func popFirst() -> Element? {
        guard head < storage.count else { return nil }
        let element = storage[head]
        storage[head] = nil
        head += 1
        if head == storage.count {
            storage.removeAll(keepingCapacity: true)
            head = 0
        } else if head > 1024 && head * 2 > storage.count {
            storage.removeFirst(head)
            head = 0
        }
        return element
    }

    /// Puts `elements` before everything queued, keeping their order.
    mutating func prepend<C: Collection>(contentsOf elements: C) where C.Element == Element {
        guard !elements.isEmpty else { return }
        storage = elements.map { Optional($0) } + storage[head...]
        head = 0
    }

    mutating func removeAll() -> [Element] {
        let all = storage[head...].compactMap { $0 }
        storage = []
        head = 0
        return all
    }
}
