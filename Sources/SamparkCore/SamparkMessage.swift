import Foundation

/// A message type on Sampark's broker: a JSON body with a versioned type name.
///
/// The type name goes into the AMQP `type` property (`call.outcome.v1`); a breaking change is
/// a new version published beside the old one. Each type has a JSON Schema under
/// `schemas/messages/<type>.json`, and `make test` checks that what `MessageCoding` encodes
/// validates against it. Consumers ignore fields they do not know.
public protocol SamparkMessage: Codable, Sendable {
    static var messageType: String { get }
}

/// The one JSON form of every message: snake_case keys, ISO 8601 dates (UTC, with
/// fractional seconds dropped), sorted keys so equal messages encode to equal bytes.
public enum MessageCoding {
    public static func encode<M: SamparkMessage>(_ message: M) throws -> [UInt8] {
        Array(try encoder.encode(message))
    }

    public static func decode<M: SamparkMessage>(_ type: M.Type, from body: [UInt8]) throws -> M {
        if type is any WireNamedCodingKeys.Type { return try wireNamedDecoder.decode(type, from: Data(body)) }
        return try decoder.decode(type, from: Data(body))
    }

    /// The content type set on every message.
    public static let contentType = "application/json"

    // One of each, made once: a coder is safe to share across threads once configured, and
    // making one per message showed in the aggregator's profile.
    private static let encoder: JSONEncoder = {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.dateEncodingStrategy = .iso8601
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }()

    private static let decoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .custom { path in SnakeCaseKey(swiftName: path.last!.stringValue) }
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()

    /// For ``WireNamedCodingKeys`` types: no key strategy at all.
    private static let wireNamedDecoder: JSONDecoder = {
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return decoder
    }()
}

/// A message whose `CodingKeys` (its nested types' too) already name the JSON fields as they
/// are on the wire, in snake_case. It is decoded without a key strategy: a custom one costs a
/// closure call and a coding path for every key of every object, which showed as a third of
/// the feedback-aggregator's decoding. Encoding is unchanged (`convertToSnakeCase` leaves a
/// snake_case name as it is). For the types read at the highest rates.
public protocol WireNamedCodingKeys {}

/// The inverse of `convertToSnakeCase` for Sampark's property names: `load_id` → `loadID`,
/// `batch_number` → `batchNumber`. (Foundation's `convertFromSnakeCase` gives `loadId`, which
/// would not match a property named `loadID`.)
struct SnakeCaseKey: CodingKey {
    let stringValue: String
    var intValue: Int? { nil }

    init(swiftName snake: String) {
        let parts = snake.split(separator: "_", omittingEmptySubsequences: false)
        guard parts.count > 1 else {
            stringValue = snake
            return
        }
        stringValue = String(parts[0]) + parts.dropFirst().map { part in
            part == "id" ? "ID" : part.prefix(1).uppercased() + part.dropFirst()
        }.joined()
    }

    init?(stringValue: String) { self.init(swiftName: stringValue) }
    init?(intValue: Int) { nil }
}

/// Why a body could not become a message, in words safe to log and to put in a
/// dead-letter header: the path of the field and what was wrong, never a value.
public func describeDecodingFailure(_ error: Error) -> String {
    guard let error = error as? DecodingError else { return "the body is not valid JSON for this type" }
    func path(_ codingPath: [CodingKey]) -> String {
        let text = codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\(snakeCase($0.stringValue))" }.joined()
        return text.isEmpty ? "the body" : String(text.drop { $0 == "." })
    }
    switch error {
    case .keyNotFound(let key, let context):
        return "\(path(context.codingPath + [key])) is missing"
    case .typeMismatch(let type, let context):
        return "\(path(context.codingPath)) is not a \(type)"
    case .valueNotFound(let type, let context):
        return "\(path(context.codingPath)) is null, expected a \(type)"
    case .dataCorrupted(let context) where context.debugDescription.hasPrefix("is not a field"):
        return "\(path(context.codingPath)) \(context.debugDescription)"
    case .dataCorrupted(let context):
        return context.codingPath.isEmpty ? "the body is not valid JSON" : "\(path(context.codingPath)) has an invalid value"
    @unknown default:
        return "the body does not match its type"
    }
}

/// A Swift property name as the JSON key it stands for (`perCommittee` → `per_committee`,
/// `requestID` → `request_id`), so that errors name fields as requesters write them.
func snakeCase(_ name: String) -> String {
    var out = ""
    var previousWasUpper = true
    for character in name {
        if character.isUppercase {
            if !previousWasUpper { out += "_" }
            out += character.lowercased()
            previousWasUpper = true
        } else {
            out.append(character)
            previousWasUpper = false
        }
    }
    return out
}
