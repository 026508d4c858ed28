import Testing

@testable import SamparkServer

/// The phone-number safety net: which digit runs are masked and which stay readable.
@Suite struct RedactionTests {
    @Test(arguments: [
        ("call 9876543210 now", "call ********** now"),
        ("+919876543210", "+************"),
        ("+91 98765 43210", "+91 ***** *****"),
        ("+91-98765-43210", "+91-*****-*****"),
        ("011-2345-6789", "***-****-****"),
        ("(555) 123-4567", "(555) ***-****"),  // 3 digits alone are not a run
        ("1234567", "*******"),
        ("tel:1234567;", "tel:*******;"),
        ("०९८७६५४३२१०", "***********"),  // Devanagari digits count too
        ("a 1500000 row file", "a ******* row file"),
    ])
    func longRunsAreMasked(text: String, masked: String) {
        #expect(Redaction.maskDigits(text) == masked)
    }

    @Test(arguments: [
        "123456",
        "port 55672, attempt 3, line 120",
        "2024-06-12T10:11:12.123Z",
        "12 34 56 78",  // short groups are not joined into a run
        "550e8400-e29b-41d4-a716-446655440000",
        "message_id=123e4567-e89b-12d3-a456-426614174000",
        "1,500,000",
        "",
        "नमस्ते",
    ])
    func everythingElseStays(text: String) {
        #expect(Redaction.maskDigits(text) == text)
    }

    @Test func uuidNextToAPhoneNumber() {
        #expect(
            Redaction.maskDigits("550e8400-e29b-41d4-a716-446655440000 from 9876543210")
                == "550e8400-e29b-41d4-a716-446655440000 from **********")
        // Glued to other characters it is no UUID: digits inside are masked.
        #expect(Redaction.maskDigits("x550e8400-e29b-41d4-a716-446655440000") == "x550e8400-e29b-41d4-a***-************")
    }
}
