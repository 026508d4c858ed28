/// A `SAMPARK_*` variable with a value the worker cannot use.
///
/// The description is meant for the person who set the variable, e.g.
/// `SAMPARK_PREFETCH=abc is not allowed: a whole number from 1 to 10000`. The value is shown
/// as given, except for variables whose name contains `URL` or `PASSWORD`: their secrets are
/// masked before the error is built (see ``Redaction/maskSecrets(variable:value:)``), so the
/// error can be printed or logged anywhere.
public struct SettingsError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The variable's name, e.g. `SAMPARK_PREFETCH`.
    public let variable: String
    /// The value as it may be shown: masked where the name calls for it, control characters escaped.
    public let shownValue: String
    /// What would have been accepted, e.g. `a whole number from 1 to 10000`.
    public let allowed: String

    /// Builds the error from the raw value; masking happens here, so no caller can forget it.
    public init(variable: String, value: String, allowed: String) {
        self.variable = variable
        self.shownValue = Redaction.maskSecrets(variable: variable, value: value)
        self.allowed = allowed
    }

    public var description: String { "\(variable)=\(shownValue) is not allowed: \(allowed)" }
}
