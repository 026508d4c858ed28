#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// `EX_USAGE` from `sysexits.h`: the process was started with settings it cannot use.
public let exitCodeUsage: Int32 = 64

/// Runs `read` and returns its settings; on a ``SettingsError`` prints its message to stderr and
/// exits with status 64 (`EX_USAGE`).
///
/// For executables, before logging is set up (the log level is itself a setting), so the
/// message goes to stderr as plain text:
/// ```
/// sampark-ingest: SAMPARK_PREFETCH=abc is not allowed: a whole number from 1 to 10000
/// ```
/// Other errors are printed the same way and exit with status 1.
public func readSettingsOrExit<Settings>(
    program: String = CommandLine.arguments.first.map { String($0.split(separator: "/").last ?? "") } ?? "sampark",
    _ read: () throws -> Settings
) -> Settings {
    do {
        return try read()
    } catch let error as SettingsError {
        writeToStandardError("\(program): \(error)\n")
        exit(exitCodeUsage)
    } catch {
        writeToStandardError("\(program): \(error)\n")
        exit(1)
    }
}

/// One `write(2)` loop to fd 2; unbuffered, so the message is out before `exit`.
func writeToStandardError(_ text: String) {
    var bytes = Array(text.utf8)
    bytes.withUnsafeMutableBytes { buffer in
        var offset = 0
        while offset < buffer.count {
            let written = write(2, buffer.baseAddress! + offset, buffer.count - offset)
            if written < 0 {
                if errno == EINTR { continue }
                return
            }
            offset += written
        }
    }
}
