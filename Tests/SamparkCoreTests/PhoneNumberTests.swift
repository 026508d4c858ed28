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
