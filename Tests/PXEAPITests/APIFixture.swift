import Foundation
import PXEAPI
import PXECatalog
import PXEHosts
import PixelRTS
import PXESettings
import TestSupport

/// A catalog in a temporary directory with an API over it, called without sockets.
final class APIFixture: @unchecked Sendable {
    let root = TemporaryDirectory()
    let store: CatalogStore
    let nextBoots: NextBootBook
    let hostRuleBook: HostRuleBook
    let api: CatalogAPI

    static let token = "fixture-token-0123456789"
    let auditLines = AuditRecorder()

    /// `onAudit` runs after each audit line is recorded, on the request's thread (tests use it
    /// to change the catalog at exactly that point of a request).
    /// `forgetMissingAfter` and `now`: as for `CatalogStore`.
    init(files: [String: [UInt8]] = [:], settingsStore: any SettingsStore = MemorySettingsStore(),
         policy: AdminAuthorizer.Policy = .tokens([AdminToken(APIFixture.token)]),
         forgetMissingAfter: Int64? = nil, now: @escaping @Sendable () -> Date = { Date() },
         hostRules: @Sendable (APIFixture.IDs) -> HostRules = { _ in HostRules() },
         onAudit: (@Sendable (String) -> Void)? = nil) {
        for (name, bytes) in files { root.write(bytes, to: name) }
        let scanner = CatalogScanner(roots: [root.path])
        store = CatalogStore(scanner: scanner, settingsStore: settingsStore, forgetMissingAfter: forgetMissingAfter, now: now)
        nextBoots = NextBootBook(settings: store.settings, now: now)
        hostRuleBook = HostRuleBook(settings: store.settings, fixed: hostRules(IDs(root: root.path)), isEntryID: CatalogEntry.isWellFormedID)
        api = CatalogAPI(store: store, context: APIContext(
            version: "9.9.9", catalogRoots: [root.path], filesRoot: root.path, internalPrefix: "/_pxe_internal/",
            scanner: scanner, publicConfig: [("file_pattern", .string("*.rts.png"))]),
            authorizer: AdminAuthorizer(policy: policy), nextBoots: nextBoots, rules: hostRuleBook, audit: { [auditLines] line in
                auditLines.append(line)
                onAudit?(line)
            })
        store.refresh()
    }

    func id(_ relative: String) -> String { CatalogEntry.id(forRealPath: root.path + "/" + relative) }

    /// Entry ids by file name, before the fixture exists (for host rules that name entries).
    struct IDs: Sendable {
        let root: String
        func callAsFunction(_ relative: String) -> String { CatalogEntry.id(forRealPath: root + "/" + relative) }
    }

    /// Marks every valid entry as prepared with `kind` (the boot cache is not running in these
    /// tests): Linux entries get a kernel and an initrd.
    func markAllReady(_ kind: BootPlan.Kind = .linux) {
        var statuses: [String: BootStatus] = [:]
        for entry in store.current.snapshot.entries where entry.isValid {
            let parts: [BootPart: Int64] = kind == .linux ? [.kernel: 10, .initrd: 5, .payload: 15] : [.disk: 16 << 20, .payload: 16 << 20]
            statuses[entry.id] = BootStatus(state: .ready, kind: kind, parts: parts, cacheKey: String(repeating: "a", count: 32))
        }
        store.publishBoot(statuses)
    }

    /// Calls the API; POSTs carry the fixture's admin token unless `authorization` says otherwise.
    func call(_ method: String, _ path: String?, query: String = "", body: String = "", bodyProblem: HTTPRequest.BodyProblem? = nil,
              authorization: String? = "Bearer " + APIFixture.token, headers extra: [String: String] = [:], remoteAddress: String? = nil) -> HTTPResponse {
        var headers = authorization.map { ["authorization": $0] } ?? [:]
        headers.merge(extra) { $1 }
        return api.handle(HTTPRequest(method: method, path: path, query: query, headers: headers, body: Array(body.utf8), bodyProblem: bodyProblem,
                                      remoteAddress: remoteAddress))
    }
}

/// Collects audit lines from the API.
final class AuditRecorder: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [String] = []
    func append(_ line: String) { lock.lock(); stored.append(line); lock.unlock() }
    var lines: [String] { lock.lock(); defer { lock.unlock() }; return stored }
}
