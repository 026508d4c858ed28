import Testing
@testable import SamparkCore
