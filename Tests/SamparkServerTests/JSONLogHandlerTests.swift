import Foundation
import Logging
import Synchronization
import Testing

@testable import SamparkServer

/// Collects the lines a handler writes.
final class LineCollector: Sendable {
    private let lines = Mutex<[[UInt8]]>([])
    var sink: LogSink { LogSink { [self] line in lines.withLock { $0.append(line) } } }
    var texts: [String] { lines.withLock { $0.map { String(decoding: $0, as: UTF8.self) } } }

    /// Every line parsed back as a JSON object.
    func objects() throws -> [[String: Any]] {
        try texts.map { line in
            #expect(line.hasSuffix("\n"))
            #expect(!line.dropLast().contains("\n"))
            let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
            return try #require(object as? [String: Any])
        }
    }
}

@Suite struct JSONLogHandlerTests {
    static let fixedTime = Date(timeIntervalSince1970: 1_738_314_902.123)

    private func logger(_ collector: LineCollector, level: Logger.Level = .info, label: String = "sampark.test")
        -> Logger
    {
        Logger(label: label) { label in
            JSONLogHandler(label: label, level: level, sink: collector.sink, now: { Self.fixedTime })
        }
    }

    @Test func writesTheFixedFields() throws {
        let collector = LineCollector()
        let log = logger(collector, label: "sampark.ingest")
        log.info("handled")
        let object = try #require(try collector.objects().first)
        #expect(object["ts"] as? String == "2025-01-31T09:15:02.123Z")
        #expect(object["level"] as? String == "info")
        #expect(object["logger"] as? String == "sampark.ingest")
        #expect(object["msg"] as? String == "handled")
        #expect(object["source"] as? String == "SamparkServerTests")
        #expect(object.count == 5)
        #expect(collector.texts.first?.hasPrefix(#"{"ts":"2025-01-31T09:15:02.123Z","level":"info","#) == true)
    }

    @Test func respectsTheLevel() throws {
        let collector = LineCollector()
        let log = logger(collector, level: .warning)
        log.info("not written")
        log.debug("not written")
        log.warning("written")
        log.critical("written too")
        #expect(try collector.objects().map { $0["level"] as? String } == ["warning", "critical"])
    }

    @Test(arguments: [
        #"she said "hello""#,
        "back\\slash",
        "two\nlines\r\nand\ttab",
        "control \u{01}\u{1F}\u{7F} bell \u{07}",
        "नमस्ते दुनिया 🎉 — ünïcödé",
        "line\u{2028}separator",
        "{\"not\":\"json\"}",
    ])
    func escapesAndRoundTrips(text: String) throws {
        let collector = LineCollector()
        logger(collector).info("\(text)", metadata: ["note": "\(text)", "nested": ["k": "\(text)"]])
        let object = try #require(try collector.objects().first)
        #expect(object["msg"] as? String == text)
        #expect(object["note"] as? String == text)
        #expect((object["nested"] as? [String: Any])?["k"] as? String == text)
    }

    @Test func flattensMetadata() throws {
        let collector = LineCollector()
        var log = logger(collector)
        log[metadataKey: "worker"] = "ingest"
        log[metadataKey: "queue"] = "calls.ingest"
        log.info(
            "handled",
            metadata: [
                "message_id": "7d444840-9dc0-11d1-b245-5ffdce74fad2",
                "type": "call.logged.v1",
                "queue": "calls.override",  // the call's metadata wins
                "attempt": .stringConvertible(3),
                "batch": ["size": "12", "ids": ["a", "b"]],
                "msg": "clash",  // cannot overwrite the message
            ])
        let object = try #require(try collector.objects().first)
        #expect(object["msg"] as? String == "handled")
        #expect(object["md_msg"] as? String == "clash")
        #expect(object["worker"] as? String == "ingest")
        #expect(object["queue"] as? String == "calls.override")
        #expect(object["message_id"] as? String == "7d444840-9dc0-11d1-b245-5ffdce74fad2")
        #expect(object["type"] as? String == "call.logged.v1")
        #expect(object["attempt"] as? String == "3")
        let batch = try #require(object["batch"] as? [String: Any])
        #expect(batch["size"] as? String == "12")
        #expect(batch["ids"] as? [String] == ["a", "b"])
    }

    @Test func metadataProviderIsMerged() throws {
        let collector = LineCollector()
        let provider = Logger.MetadataProvider { ["region": "up-east", "queue": "from-provider"] }
        let withProvider = Logger(label: "p") { label in
            JSONLogHandler(label: label, sink: collector.sink, metadataProvider: provider)
        }
        withProvider.info("x", metadata: ["queue": "explicit"])
        let object = try #require(try collector.objects().first)
        #expect(object["region"] as? String == "up-east")
        #expect(object["queue"] as? String == "explicit")
    }

    @Test func masksPhoneNumbersInMessageAndMetadata() throws {
        let collector = LineCollector()
        var log = logger(collector)
        log[metadataKey: "caller"] = "+91 98765 43210"
        log.info(
            "calling 9876543210 for volunteer 42",
            metadata: [
                "phone": "+919876543210",
                "count": .stringConvertible(12_345_678),
                "nested": ["numbers": ["0123456789", "12"]],
                "message_id": "123e4567-e89b-12d3-a456-426614174000",
            ])
        log.error("failed", error: LookupFailed(phone: "9123456789"))
        let lines = collector.texts.joined()
        for digits in ["9876543210", "98765", "43210", "12345678", "0123456789", "9123456789"] {
            #expect(!lines.contains(digits))
        }
        let objects = try collector.objects()
        #expect(objects[0]["msg"] as? String == "calling ********** for volunteer 42")
        #expect(objects[0]["caller"] as? String == "+91 ***** *****")
        #expect(objects[0]["phone"] as? String == "+************")
        #expect(objects[0]["count"] as? String == "********")
        #expect((objects[0]["nested"] as? [String: Any])?["numbers"] as? [String] == ["**********", "12"])
        #expect(objects[0]["message_id"] as? String == "123e4567-e89b-12d3-a456-426614174000")
        #expect(objects[1]["error"] as? String == "no volunteer for **********")
    }

    struct LookupFailed: Error, CustomStringConvertible {
        let phone: String
        var description: String { "no volunteer for \(phone)" }
    }

    @Test func timestampsAreUTCWithMilliseconds() {
        #expect(Timestamp.iso8601Milliseconds(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
        #expect(Timestamp.iso8601Milliseconds(Date(timeIntervalSince1970: 951_782_400.5)) == "2000-02-29T00:00:00.500Z")
        #expect(Timestamp.iso8601Milliseconds(Date(timeIntervalSince1970: 1_738_314_902.999)) == "2025-01-31T09:15:02.999Z")
    }

    /// Many threads log long lines (longer than the pipe's buffer) through one file-descriptor
    /// sink into a pipe: every line read back must be whole.
    @Test func concurrentLoggingWritesOnlyWholeLines() async throws {
        var fds: [Int32] = [0, 0]
        #expect(pipe(&fds) == 0)
        let (readEnd, writeEnd) = (fds[0], fds[1])
        // The smallest pipe buffer (one page), so a line longer than it cannot go in one
        // write(2) and writers would interleave without the sink's lock. F_SETPIPE_SZ is 1031.
        #expect(fcntl(writeEnd, 1031, 4096) >= 4096)
        let threads = 8
        let perThread = 200
        let padding = String(repeating: "x", count: 6000)

        // Drain the pipe on a thread of its own while the writers run, or they would block.
        let reader = Task.detached { () -> [UInt8] in
            var all: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65_536)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                all.append(contentsOf: buffer[..<n])
            }
            close(readEnd)
            return all
        }
        let sink = LogSink.fileDescriptor(writeEnd)
        let log = Logger(label: "concurrent") { JSONLogHandler(label: $0, sink: sink) }
        DispatchQueue.concurrentPerform(iterations: threads) { thread in
            for index in 0..<perThread {
                log.info("line", metadata: ["thread": "\(thread)", "index": "\(index)", "padding": "\(padding)"])
            }
        }
        close(writeEnd)
        let bytes = await reader.value

        let lines = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
        #expect(lines.last?.isEmpty == true)  // the output ends with a newline
        var seen = Set<String>()
        for line in lines.dropLast() {
            let object = try #require(try JSONSerialization.jsonObject(with: Data(line)) as? [String: Any])
            #expect(object["padding"] as? String == padding)
            seen.insert("\(object["thread"] as? String ?? "?")/\(object["index"] as? String ?? "?")")
        }
        #expect(lines.count - 1 == threads * perThread)
        #expect(seen.count == threads * perThread)
    }
}
