import Foundation

/// Reads typed settings from environment variables, with one clear error per bad value.
///
/// Every worker reads ``WorkerSettings`` through it and may read variables of its own the same
/// way:
/// ```swift
/// let reader = SettingsReader()
/// let batch = try reader.integer("SAMPARK_IMPORT_BATCH", default: 1000, in: 1...100_000)
/// ```
/// Rules shared by every accessor:
/// - An unset **or empty** variable takes the default: compose files often pass
///   `SAMPARK_X=${SAMPARK_X:-}`, which sets it to the empty string.
/// - Typed values (numbers, choices, durations, URLs) are trimmed of surrounding whitespace
///   before parsing; ``string(_:default:)`` returns the value untouched.
/// - Defaults are not validated: they are the programmer's, not the operator's.
/// - A bad value throws ``SettingsError`` naming the variable, the value (masked when the
///   name contains `URL` or `PASSWORD`) and what is allowed.
public struct SettingsReader: Sendable {
    /// The variables read, injected by tests; the process environment by default.
    public let environment: [String: String]

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        self.environment = environment
    }

    /// The raw value, or nil when the variable is unset or empty.
    public func value(_ name: String) -> String? {
        guard let value = environment[name], !value.isEmpty else { return nil }
        return value
    }

    /// Any text, as given.
    public func string(_ name: String, default defaultValue: String) -> String {
        value(name) ?? defaultValue
    }

    /// A URL whose scheme is one of `schemes` (compared case-insensitively) and that names a
    /// host (or, for libpq-style URLs, has a `host=` query parameter).
    ///
    /// Returns the URL text unchanged: the AMQP and PostgreSQL clients parse it themselves,
    /// and `Foundation.URL` would re-encode parts of it.
    public func url(_ name: String, default defaultValue: String, schemes: [String]) throws -> String {
        guard let raw = value(name) else { return defaultValue }
        let text = raw.trimmingCharacters(in: .whitespaces)
        let example = schemes.first.map { " such as \($0)://user:password@host:port/..." } ?? ""
        let allowed = "a URL with scheme \(Self.list(schemes, last: "or")) and a host\(example)"
        guard let components = URLComponents(string: text),
            let scheme = components.scheme?.lowercased(),
            schemes.contains(where: { $0.lowercased() == scheme })
        else {
            throw SettingsError(variable: name, value: raw, allowed: allowed)
        }
        let hasHost = !(components.host ?? "").isEmpty
            || (components.queryItems ?? []).contains { $0.name == "host" && !($0.value ?? "").isEmpty }
        guard hasHost else { throw SettingsError(variable: name, value: raw, allowed: allowed) }
        return text
    }

    /// A whole number (decimal, optional sign) within `range`.
    public func integer(_ name: String, default defaultValue: Int, in range: ClosedRange<Int>) throws -> Int {
        guard let raw = value(name) else { return defaultValue }
        guard let number = Int(raw.trimmingCharacters(in: .whitespaces)), range.contains(number) else {
            throw SettingsError(
                variable: name, value: raw,
                allowed: "a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return number
    }

    /// One of `allowed`, compared case-insensitively; returns the spelling in `allowed`.
    public func choice(_ name: String, default defaultValue: String, allowed: [String]) throws -> String {
        guard let raw = value(name) else { return defaultValue }
        let text = raw.trimmingCharacters(in: .whitespaces).lowercased()
        guard let match = allowed.first(where: { $0.lowercased() == text }) else {
            throw SettingsError(variable: name, value: raw, allowed: "one of \(allowed.joined(separator: ", "))")
        }
        return match
    }

    /// One case of a string enum, by raw value (case-insensitive), listed in declaration order
    /// in the error.
    public func choice<Choice: CaseIterable & RawRepresentable>(
        _ name: String, default defaultValue: Choice
    ) throws -> Choice where Choice.RawValue == String {
        let names = Choice.allCases.map(\.rawValue)
        let picked = try choice(name, default: defaultValue.rawValue, allowed: names)
        return Choice(rawValue: picked) ?? defaultValue
    }

    /// A duration given as a number of seconds (`30`, `2.5`) within `range`.
    public func seconds(
        _ name: String, default defaultValue: Duration, in range: ClosedRange<Double>
    ) throws -> Duration {
        guard let raw = value(name) else { return defaultValue }
        guard let number = Double(raw.trimmingCharacters(in: .whitespaces)), number.isFinite,
            range.contains(number)
        else {
            throw SettingsError(
                variable: name, value: raw,
                allowed: "a number of seconds from \(Self.format(range.lowerBound)) to \(Self.format(range.upperBound))")
        }
        return .milliseconds(Int64((number * 1000).rounded()))
    }

    /// `true`/`false`, also `1`/`0`, `yes`/`no`, `on`/`off` (case-insensitive).
    public func boolean(_ name: String, default defaultValue: Bool) throws -> Bool {
        guard let raw = value(name) else { return defaultValue }
        switch raw.trimmingCharacters(in: .whitespaces).lowercased() {
        case "true", "1", "yes", "on": return true
        case "false", "0", "no", "off": return false
        default: throw SettingsError(variable: name, value: raw, allowed: "true or false")
        }
    }

    private static func list(_ items: [String], last: String) -> String {
        guard items.count > 1 else { return items.first ?? "" }
        return items.dropLast().joined(separator: ", ") + " \(last) " + items[items.count - 1]
    }

    /// `1.0` → `1`, `0.5` → `0.5`: ranges read like the operator would write them.
    private static func format(_ number: Double) -> String {
        number == number.rounded() && abs(number) < 1e15 ? String(Int64(number)) : String(number)
    }
}
