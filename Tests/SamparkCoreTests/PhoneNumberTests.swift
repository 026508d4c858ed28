import Testing
@testable import SamparkCore

@Suite struct PhoneNumberTests {
    @Test(arguments: ["9876543210", "98765 43210", "098765-43210", "91 9876543210", "919876543210",
                      "+91-98765-43210", "(+91) 98765 43210", "+919876543210", "0091 98765 43210", "98765.43210"])
    func writtenInTheWild(_ text: String) {
        #expect(PhoneNumber.normalize(text) == "+919876543210")
    }

    @Test(arguments: ["", "12345", "5876543210", "+1 9876543210", "98765432101", "9876x43210",
                      "+91 5876543210", "0 5876543210", "9876543210 ext 2", "++919876543210"])
    func notAnIndianMobile(_ text: String) {
        #expect(PhoneNumber.normalize(text) == nil)
    }
}

@Suite struct PhoneKindTests {
    /// Landlines are kept (and marked): an STD code set apart from the subscriber number, or
    /// ten digits starting 1-5.
    @Test(arguments: [("0771-2345678", "+917712345678"), ("0771 2345678", "+917712345678"), ("+91 771 2345678", "+917712345678"),
                      ("080-23456789", "+918023456789"), ("+91 80 23456789", "+918023456789"), ("011 23456789", "+911123456789"),
                      ("5876543210", "+915876543210"), ("0 22 12345678", "+912212345678")])
    func landlines(_ text: String, _ number: String) throws {
        let parsed = try #require(PhoneNumber.parse(text))
        #expect(parsed.number == number)
        #expect(parsed.kind == .landline)
    }

    @Test(arguments: ["98270 10000", "098270-10001", "+91-98765-43210", "9876543210", "7712345678", "0 98765 43210", "987 654 3210"])
    func mobiles(_ text: String) throws {
        #expect(try #require(PhoneNumber.parse(text)).kind == .mobile)
    }

    @Test(arguments: ["0771-234567", "+1 415 555 0100", "123456789", "phone", "0000000000"])
    func neither(_ text: String) {
        #expect(PhoneNumber.parse(text) == nil)
    }
}
