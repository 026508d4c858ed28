/// Indian phone numbers in the one form Sampark stores: E.164, `+91` and ten digits. Ten
/// digits starting 6 to 9 are a mobile; starting 1 to 5, a landline (STD code and number),
/// which is kept and marked but never called.
///
/// Files write them in many ways: `98765 43210`, `098765-43210`, `91 9876543210`,
/// `+91-98765-43210`, `(+91) 98765 43210`. Spaces, dashes, dots and brackets are dropped, then
/// a leading `+91`, `0091`, `91` (with 12 digits) or `0` (with 11) goes, and what is left must
/// be ten digits starting 1-9.
public enum PhoneNumber {
    public enum Kind: String, Sendable {
        case mobile
        case landline
    }

    /// The E.164 form, or nil if `text` is not an Indian mobile number.
    public static func normalize(_ text: String) -> String? {
        guard let (number, kind) = parse(text), kind == .mobile else { return nil }
        return number
    }

    /// The E.164 form and its kind, or nil if `text` is not an Indian phone number.
    ///
    /// Ten digits alone do not tell a landline from a mobile (Raipur's `0771 2345678` starts
    /// with 7 like a mobile), so the writing decides: an STD code of 2-4 digits after a trunk
    /// `0` or the country code, set apart from a subscriber number of 6-8 digits, is a
    /// landline (`0771-2345678`, `+91 80 23456789`); otherwise ten digits starting 6-9 are a
    /// mobile and 1-5 a landline.
    public static func parse(_ text: String) -> (number: String, kind: Kind)? {
        var digits: [UInt8] = []
        digits.reserveCapacity(16)
        var groups: [Int] = [0]     // digits per group, groups split by separators
        var sawPlus = false
        // Byte by byte, ASCII only: a digit with a combining mark (non-ASCII) is not a digit.
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                digits.append(byte)
                groups[groups.count - 1] += 1
            case UInt8(ascii: "+") where digits.isEmpty && !sawPlus: sawPlus = true
            case UInt8(ascii: " "), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "\t"):
                if groups.last != 0 { groups.append(0) }
            default: return nil
            }
        }
        if groups.last == 0 { groups.removeLast() }
        let nine = UInt8(ascii: "9"), one = UInt8(ascii: "1"), zero = UInt8(ascii: "0")
        var number = digits[...]
        var prefix = 0
        if sawPlus {
            guard number.starts(with: [nine, one]) else { return nil }
            prefix = 2
        } else if number.count == 14 && number.starts(with: [zero, zero, nine, one]) {
            prefix = 4
        } else if number.count == 12 && number.starts(with: [nine, one]) {
            prefix = 2
        } else if number.count == 11 && number.first == zero {
            prefix = 1
        }
        number = number.dropFirst(prefix)
        guard number.count == 10, let first = number.first, one...nine ~= first else { return nil }
        // The groups after the prefix: a country code written as its own group goes whole.
        var national = groups
        if prefix > 0, let head = national.first {
            if head == prefix { national.removeFirst() } else { national[0] -= prefix }
        }
        let stdCode = national.count == 2 && (2...4).contains(national[0]) && (6...8).contains(national[1])
        let kind: Kind = stdCode || !(UInt8(ascii: "6")...nine ~= first) ? .landline : .mobile
        return ("+91" + String(decoding: number, as: UTF8.self), kind)
    }
}
