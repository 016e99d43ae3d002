import Foundation
import PXEAPI
@testable import PXEServer
import TestSupport
import Testing

@Suite struct AdminTokenFileTests {
    /// Each test owns its directory (the instance lives as long as the test).
    let directory = TemporaryDirectory()

    func file(_ text: String, mode: Int16 = 0o600) -> String {
        let path = directory.write(Array(text.utf8), to: "tokens")
        chmod(path, mode_t(mode))
        return path
    }

    @Test func readsTokensSkippingCommentsAndBlankLines() throws {
        let path = file("# rotated 2026-11\nfirst-token-0123456789\n\n  second-token-0123456789  \n")
        #expect(try AdminTokenFile.load(path: path) == [AdminToken("first-token-0123456789"), AdminToken("second-token-0123456789")])
    }

    @Test(arguments: [Int16(0o644), 0o604, 0o666, 0o602])
    func refusesFilesOthersCanAccess(_ mode: Int16) {
        let path = file("first-token-0123456789\n", mode: mode)
        #expect { try AdminTokenFile.load(path: path) } throws: { error in
            (error as? AdminTokenFile.LoadError)?.description.contains("accessible by other users") == true
        }
    }

    @Test(arguments: ["", "# only a comment\n", "short\n", "has space in the middle of it\n"])
    func refusesEmptyOrWeakTokenFiles(_ text: String) {
        #expect(throws: AdminTokenFile.LoadError.self) { try AdminTokenFile.load(path: file(text)) }
    }
}
