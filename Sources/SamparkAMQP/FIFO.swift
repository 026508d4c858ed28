/// A first-in first-out queue with O(1) amortized push, pop and push-front of a batch;
/// what the connection's thread keeps its not-yet-sent publishes in.
struct FIFO<Element> {
    private var storage: [Element] = []
    private var head = 0

    var isEmpty: Bool { head == storage.count }
    var count: Int { storage.count - head }

    mutating func append(_ element: Element) { storage.append(element) }

    mutating func append<S: Sequence>(contentsOf elements: S) where S.Element == Element {
        storage.append(contentsOf: elements)
    }

    mutating func popFirst() -> Element? {
        guard head < storage.count else { return nil }
        let element = storage[head]
        head += 1
        if head > 1024 && head * 2 > storage.count {
            storage.removeFirst(head)
            head = 0
        }
        return element
    }

    /// Puts `elements` before everything queued, keeping their order.
    mutating func prepend<C: Collection>(contentsOf elements: C) where C.Element == Element {
        guard !elements.isEmpty else { return }
        storage = Array(elements) + storage[head...]
        head = 0
    }

    mutating func removeAll() -> [Element] {
        let all = Array(storage[head...])
        storage = []
        head = 0
        return all
    }
}
