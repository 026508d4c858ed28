import Testing
@testable import SamparkPostgres

@Suite struct ErrorTests {
    @Test func descriptionOmitsDetailAndContextAndMasksDigits() {
        let error = PostgresError(
            kind: .server, code: .invalidTextRepresentation,
            message: "invalid input syntax for type bigint: \"98765 43210\" near +91-98765-43210 and 9876543210",
            detail: "Key (phone)=(9876543210) already exists.",
            context: "COPY contacts, line 17, column phone: \"9876543210\"",
            tableName: "contacts", copyLine: 17)
        let text = error.description
        #expect(!text.contains("already exists"))
        #expect(!text.contains("Key (phone)"))
        #expect(!text.contains("9876543210"))
        #expect(!text.contains("98765"))
        #expect(!text.contains("43210"))
        #expect(text.contains("22P02"))
        #expect(text.contains("COPY line 17"))
        #expect(text.contains("table contacts"))
        #expect(text.firstRange(of: /\d{7,}/) == nil)
        #expect(error.debugDescription == text)
    }

    @Test func shortNumbersStayReadable() {
        #expect(PostgresError.redactDigits("line 5, column 12, port 5432") == "line 5, column 12, port 5432")
        #expect(PostgresError.redactDigits("call 1234567 now") == "call <redacted> now")
        #expect(PostgresError.redactDigits("१२३४५६७८९०") == "<redacted>")
        #expect(PostgresError.redactDigits("123456") == "123456")
        #expect(PostgresError.redactDigits("id 12-34 x") == "id 12-34 x")
    }

    @Test func copyLineFromContext() {
        #expect(PostgresError.copyLine(fromContext: "COPY t, line 5, column x: \"abc\"") == 5)
        #expect(PostgresError.copyLine(fromContext: "COPY t, line 100000") == 100000)
        #expect(PostgresError.copyLine(fromContext: "PL/pgSQL function f() line 3 at RAISE\nCOPY t, line 9: \"...\"") == 9)
        #expect(PostgresError.copyLine(fromContext: "PL/pgSQL function f() line 3 at RAISE") == nil)
    }

    @Test(arguments: [
        ("40001", RetryClassification.transient), ("40P01", .transient), ("08006", .transient),
        ("08P01", .transient), ("57P01", .transient), ("57P02", .transient), ("57P03", .transient),
        ("23505", .permanent), ("23503", .permanent), ("22P02", .permanent), ("42P01", .permanent),
        ("57014", .permanent),
    ])
    func classification(_ code: String, _ expected: RetryClassification) {
        let error = PostgresError(kind: .server, code: PostgresError.Code(code), message: "m")
        #expect(error.retryClassification == expected)
        #expect(error.retryable == (expected == .transient))
    }

    @Test func clientSideKinds() {
        #expect(PostgresError(kind: .connectionLost, code: .connectionFailure, message: "m").retryable)
        #expect(PostgresError(kind: .connectionFailed, message: "m").retryable)
        #expect(!PostgresError(kind: .decoding, message: "m").retryable)
        #expect(!PostgresError(kind: .poolClosed, message: "m").retryable)
        #expect(PostgresError(kind: .connectionLost, message: "m").isConnectionError)
        #expect(PostgresError(kind: .server, code: "08006", message: "m").isConnectionError)
        #expect(!PostgresError(kind: .server, code: .uniqueViolation, message: "m").isConnectionError)
        #expect(PostgresError.Code.uniqueViolation.errorClass == "23")
    }

    @Test func retryPolicyBackoffIsBounded() {
        let policy = PostgresRetryPolicy(maxAttempts: 4, baseDelay: .milliseconds(10), maxDelay: .milliseconds(40))
        for attempt in 1...10 {
            let delay = policy.delay(after: attempt)
            #expect(delay >= .zero && delay <= .milliseconds(40))
        }
        #expect(PostgresRetryPolicy(maxAttempts: 0).maxAttempts == 1)
    }
}
