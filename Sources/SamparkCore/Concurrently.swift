/// Runs `work` on every element, at most `limit` at once (each as a child task), and hands
/// each result to `collect` in the calling task as it finishes, in no set order: the
/// dispatcher's round fills its centres so, and the dispatch benchmark claims its baseline's
/// entries the same way.
public func forEachConcurrently<Element: Sendable, Result: Sendable>(
    _ elements: [Element], atMost limit: Int, _ work: @escaping @Sendable (Element) async -> Result,
    collect: (Result) -> Void
) async {
    await withTaskGroup(of: Result.self) { group in
        var next = elements.makeIterator()
        for _ in 0..<max(1, limit) {
            guard let element = next.next() else { break }
            group.addTask { await work(element) }
        }
        while let result = await group.next() {
            if let element = next.next() { group.addTask { await work(element) } }
            collect(result)
        }
    }
}
