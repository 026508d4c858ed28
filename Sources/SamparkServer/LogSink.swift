#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// Where ``JSONLogHandler`` writes its lines: each call receives one whole line, newline included.
///
/// A sink must write each line at once so lines from different threads never interleave;
/// ``standardOutput`` does so under a process-wide lock, tests collect lines in memory.
public struct LogSink: Sendable {
    /// Writes one complete line (UTF-8, ending in `\n`).
    public let write: @Sendable (_ line: [UInt8]) -> Void

    public init(write: @escaping @Sendable (_ line: [UInt8]) -> Void) {
        self.write = write
    }

    /// File descriptor 1, unbuffered: a line is out as soon as it is logged, so nothing is lost
    /// if the process is killed, and a container runtime collects whole lines.
    public static let standardOutput = LogSink(write: { line in FileDescriptorWriter.standardOutput.write(line) })

    /// File descriptor 2.
    public static let standardError = LogSink(write: { line in FileDescriptorWriter.standardError.write(line) })

    /// Any open file descriptor (a file, a pipe), left open. Make one sink per descriptor and
    /// share it: the lock that keeps lines whole belongs to the sink.
    public static func fileDescriptor(_ fd: Int32) -> LogSink {
        let writer = FileDescriptorWriter(fd: fd)
        return LogSink(write: { line in writer.write(line) })
    }
}

/// Serialises writes to one file descriptor.
///
/// The lock is held for the whole `write(2)` loop: a pipe accepts at most `PIPE_BUF` (4096)
/// bytes atomically, so a long line may take several calls, and without the lock another
/// thread's line could land between them.
final class FileDescriptorWriter: Sendable {
    static let standardOutput = FileDescriptorWriter(fd: 1)
    static let standardError = FileDescriptorWriter(fd: 2)

    private let fd: Int32
    private let lock = Mutex(())

    init(fd: Int32) { self.fd = fd }

    func write(_ bytes: [UInt8]) {
        lock.withLock { _ in
            bytes.withUnsafeBytes { buffer in
                guard let base = buffer.baseAddress else { return }
                var offset = 0
                while offset < buffer.count {
                    #if canImport(Glibc)
                    let written = Glibc.write(fd, base + offset, buffer.count - offset)
                    #else
                    let written = Darwin.write(fd, base + offset, buffer.count - offset)
                    #endif
                    if written < 0 {
                        if errno == EINTR { continue }
                        return  // stdout closed or full disk: logging must never crash the worker
                    }
                    offset += written
                }
            }
        }
    }
}
