import Testing
@testable import SamparkServer
