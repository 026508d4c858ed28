/// Indian mobile numbers in the one form Sampark stores: E.164, `+91` and ten digits
/// starting 6 to 9.
///
/// Files write them in many ways: `98765 43210`, `098765-43210`, `91 9876543210`,
/// `+91-98765-43210`, `(+91) 98765 43210`. Spaces, dashes, dots and brackets are dropped, then
/// a leading `+91`, `0091`, `91` (with 12 digits) or `0` (with 11) goes, and what is left must
/// be ten digits starting 6-9.
public enum PhoneNumber {
    /// The E.164 form, or nil if `text` is not an Indian mobile number.
    public static func normalize(_ text: String) -> String? {
        var digits: [Character] = []
        var sawPlus = false
        for character in text {
            switch character {
            case "0"..."9": digits.append(character)
            case "+" where digits.isEmpty && !sawPlus: sawPlus = true
            case " ", "-", ".", "(", ")", "\t": continue
            default: return nil
            }
        }
        var number = digits[...]
        if sawPlus {
            guard number.starts(with: "91") else { return nil }
            number = number.dropFirst(2)
        } else if number.count == 14 && number.starts(with: "0091") {
            number = number.dropFirst(4)
        } else if number.count == 12 && number.starts(with: "91") {
            number = number.dropFirst(2)
        } else if number.count == 11 && number.first == "0" {
            number = number.dropFirst()
        }
        guard number.count == 10, let first = number.first, "6"..."9" ~= first else { return nil }
        return "+91" + String(number)
    }
}
