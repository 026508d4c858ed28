import Testing
@testable import SamparkSchema
