import PXEAPI
import PXECatalog
import TestSupport

/// A catalog in a temporary directory with an API over it, called without sockets.
final class APIFixture: @unchecked Sendable {
    let root = TemporaryDirectory()
    let store: CatalogStore
    let api: CatalogAPI

    init(files: [String: [UInt8]] = [:]) {
        for (name, bytes) in files { root.write(bytes, to: name) }
        let scanner = CatalogScanner(roots: [root.path])
        store = CatalogStore(scanner: scanner)
        api = CatalogAPI(store: store, context: APIContext(
            version: "9.9.9", catalogRoots: [root.path], filesRoot: root.path, internalPrefix: "/_pxe_internal/",
            scanner: scanner, publicConfig: [("file_pattern", .string("*.rts.png"))]))
        store.refresh()
    }

    func id(_ relative: String) -> String { CatalogEntry.id(forRealPath: root.path + "/" + relative) }

    func call(_ method: String, _ path: String?, body: String = "", bodyProblem: HTTPRequest.BodyProblem? = nil) -> HTTPResponse {
        api.handle(HTTPRequest(method: method, path: path, body: Array(body.utf8), bodyProblem: bodyProblem))
    }
}
