import Foundation
import SamparkCore

extension CallClock {
    /// The clock the settings name (CallClock(environment:)), a bad value as a `SettingsError`.
    public init(reader: SettingsReader) throws {
        do {
            try self.init(environment: reader.environment)
        } catch {
            throw SettingsError(variable: error.variable, value: error.value, allowed: error.allowed)
        }
    }
}
