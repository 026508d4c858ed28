import Testing
import SamparkCore
import Synchronization

@Suite struct ConcurrentlyTests {
    /// Every element is worked once and its result collected; never more than the limit run
    /// at once, and the limit is reached when there is work for it.
    @Test func everyElementOnceAndNeverMoreThanTheLimitAtOnce() async {
        let running = Mutex((now: 0, most: 0))
        var collected: [Int] = []
        await forEachConcurrently(Array(1...12), atMost: 3, { n -> Int in
            running.withLock { $0.now += 1; $0.most = max($0.most, $0.now) }
            try? await Task.sleep(for: .milliseconds(50))
            running.withLock { $0.now -= 1 }
            return n * 10
        }, collect: { collected.append($0) })
        #expect(collected.sorted() == (1...12).map { $0 * 10 })
        #expect(running.withLock { $0.most } == 3, "each works 50 ms: three overlap")
        #expect(running.withLock { $0.now } == 0)
    }

    @Test func noElementsAndALimitBelowOne() async {
        var collected: [Int] = []
        await forEachConcurrently([Int](), atMost: 2, { $0 }, collect: { collected.append($0) })
        #expect(collected.isEmpty)
        await forEachConcurrently([1, 2], atMost: 0, { $0 }, collect: { collected.append($0) })
        #expect(collected.sorted() == [1, 2])
    }
}
