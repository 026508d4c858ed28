import Testing
@testable import SamparkRuntime
