import BootScripts
import Foundation
import PXECatalog
import PXEHosts
import PXESettings
import StrictJSON

/// `GET /provision/{mac}/{token}/{file}` (an installer fetching its machine's answer file; the
/// token is the only key), `GET /provision/templates` and `GET /provision/preview/{id}` (admin).
enum ProvisionRoute: Equatable, Sendable {
    case answers(mac: String, token: String, file: String)
    case templates
    case preview(String)

    init?(path: String) {
        guard path.hasPrefix("/provision/") else { return nil }
        let rest = path.dropFirst(11)
        if rest == "templates" {
            self = .templates
            return
        }
        let parts = rest.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 2, parts[0] == "preview" {
            self = .preview(String(parts[1]))
            return
        }
        guard parts.count == 3 else { return nil }
        self = .answers(mac: String(parts[0]), token: String(parts[1]), file: String(parts[2]))
    }

    var metricName: String {
        switch self {
        case .answers: return "answers"
        case .templates: return "answer_templates"
        case .preview: return "answer_preview"
        }
    }

    /// Listing the templates and previewing a machine's answers show what an answer file holds
    /// (password hashes, keys): admin only. The installer's fetch carries its token instead.
    var needsAdmin: Bool {
        if case .answers = self { return false }
        return true
    }
}

/// Answer files, rendered per machine from `provision.templates`: text straight from the worker
/// (they are small and never cached: `no-store`). The body is never logged.
struct ProvisionRoutes: Sendable {
    let store: CatalogStore
    let currentContext: CurrentContext
    var context: APIContext { currentContext.value }
    let rules: HostRuleBook
    let tokens: AnswerTokenBook
    /// The scripts' base URL and entry lookups (one place decides a machine's command line).
    let scripts: ScriptRoutes

    func respond(_ route: ProvisionRoute, request: HTTPRequest) throws(APIError) -> HTTPResponse {
        switch route {
        case let .answers(mac, token, file): return answers(macText: mac, token: token, file: file, request: request)
        case .templates: return templates()
        case let .preview(id): return try preview(id: id, request: request)
        }
    }

    /// `{base}/provision/{mac}/{token}/{file}`, or the directory (`.../{token}/`) for a
    /// template of several files: the installer appends their names.
    static func url(base: String, mac: String, token: String, template: AnswerTemplate) -> String {
        let file = template.isDirectory ? "" : template.files.first?.servedName ?? ""
        return "\(base)/provision/\(mac.replacingOccurrences(of: ":", with: "-"))/\(token)/\(file)"
    }

    /// The installer's fetch. Every answer, served or refused, goes into the boot log with the
    /// machine the path names and the address that asked.
    func answers(macText: String, token: String, file: String, request: HTTPRequest) -> HTTPResponse {
        let mac = MachineIdentity.normalisedMAC(macText.replacingOccurrences(of: "-", with: ":"))
        var note = BootEventNote(kind: .answers, machine: MachineIdentity(mac: mac), address: request.remoteAddress)
        func refuse(_ error: APIError, _ why: String) -> HTTPResponse {
            var response = error.response
            response.headers.removeAll { $0.0 == "Cache-Control" }
            response.headers.append(("Cache-Control", "no-store"))
            note.outcome = "refused: \(why)"
            response.bootEvent = note
            return response
        }
        guard let mac else {
            return refuse(APIError(.notFound, "No answers here: the URL does not name a machine's MAC address."), "no MAC")
        }
        let policy = context.answers.tokenPolicy
        switch tokens.check(token: token, mac: mac, file: file) {
        case .unknown:
            return refuse(APIError(.notFound, "No answers for machine \(mac) at this URL: its token is unknown (a later boot of the machine replaced it, or the server restarted). Boot the machine again for a new one."), "unknown token")
        case .otherMachine:
            return refuse(APIError(.forbidden, "This URL's token was issued to another machine, not \(mac); answers are given only to the machine they were made for."), "token of another machine")
        case .expired:
            return refuse(APIError(.gone, "This answer-file URL for machine \(mac) expired \(Int(policy.lifetimeSeconds / 60)) minutes after it was issued (provision.token_minutes). Boot the machine again for a new one."), "expired")
        case .spent:
            return refuse(APIError(.gone, "This answer-file URL for machine \(mac) was already used for \(Route.printable(file, limit: 64)) (provision.token_fetches allows \(policy.fetchesPerFile)). Boot the machine again for a new one."), "already used")
        case let .granted(grant):
            note.entry = grant.entry
            guard let template = context.answers.templates[grant.template] else {
                return refuse(APIError(.notFound, "Template \(grant.template) of machine \(mac) is no longer loaded (provision.templates changed); boot the machine again."), "template gone")
            }
            guard let answerFile = template.file(named: file) else {
                return refuse(APIError(.notFound, "Template \(template.name) has no file \(Route.printable(file, limit: 64)); it has \(template.files.map(\.servedName).joined(separator: ", "))."), "no such file")
            }
            let state = store.current
            guard let (entry, setting) = state.pxeEntries().first(where: { $0.0.id == grant.entry }) else {
                return refuse(APIError(.notFound, "Entry \(grant.entry) that machine \(mac) booted is no longer in the menu."), "entry gone")
            }
            // Counted only now: a refusal above does not use the URL up.
            guard case .granted = tokens.use(token: token, mac: mac, file: file) else {
                return refuse(APIError(.gone, "This answer-file URL for machine \(mac) was just used by another request."), "already used")
            }
            let variables = self.variables(machine: grant.machine, address: request.remoteAddress, entry: entry, setting: setting,
                                           template: template.name, request: request)
            var response = HTTPResponse.text(answerFile.render(variables), contentType: answerFile.format.contentType)
            note.outcome = "served \(answerFile.servedName) (\(template.name))"
            response.bootEvent = note
            return response
        }
    }

    /// What `machine` (as it identified itself to the menu) gets in its templates for `entry`.
    func variables(machine: MachineIdentity, address: String?, entry: CatalogEntry, setting: PXESetting, template: String,
                   request: HTTPRequest) -> AnswerVariables {
        let context = self.context
        let effective = rules.effective
        let rule = machine.isEmpty ? nil : effective.rule(for: machine)
        var variables = AnswerVariables(entryID: entry.id, entryName: setting.menuName ?? entry.displayName,
                                        entryCommandLine: ScriptRoutes.commandLine(entry, setting, context: context, hostAppend: rule?.policy.commandLineAppend),
                                        template: template)
        for field in IdentityField.allCases {
            if let value = machine[field] { variables.identity[field.rawValue] = value }
        }
        variables.address = address
        variables.labels = machine.mac.flatMap { effective.labels[$0] } ?? [:]
        variables.vars = rule?.policy.variables ?? [:]
        variables.server = scripts.sanBaseURL(request)
        return variables
    }

    /// `GET /provision/templates`: each template, its files and formats, and who uses it.
    func templates() -> HTTPResponse {
        let context = self.context
        let state = store.current
        let ruleList = rules.effective.rules
        let entries = state.pxeEntries()
        let items: [JSONValue] = context.answers.templates.names.compactMap { name in
            guard let template = context.answers.templates[name] else { return nil }
            let usedBy = entries.filter { context.answers.entryTemplate($0.0) == name }.map { JSONValue.string($0.0.id) }
            return .object([
                ("name", .string(name)),
                ("url_kind", .string(template.isDirectory ? "directory" : "file")),
                ("files", .array(template.files.map { .object([("name", .string($0.servedName)), ("format", .string($0.format.rawValue))]) })),
                ("entries", .array(usedBy)),
                ("rules", .array(ruleList.filter { $0.policy.answers == name }.map { .string($0.name) })),
            ])
        }
        let missing = Set(ruleList.compactMap(\.policy.answers)).subtracting(context.answers.templates.names).sorted()
        return .json(.object([
            ("templates", .array(items)), ("count", .int(Int64(items.count))),
            ("missing", .array(missing.map { .string($0) })),
            ("token_minutes", .int(Int64(context.answers.tokenPolicy.lifetimeSeconds / 60))),
            ("token_fetches", .int(Int64(context.answers.tokenPolicy.fetchesPerFile))),
        ]))
    }

    /// `GET /provision/preview/{id}?mac=...&file=...`: what that machine would get for entry
    /// `{id}` now (no token used or minted).
    func preview(id: String, request: HTTPRequest) throws(APIError) -> HTTPResponse {
        let state = store.current
        guard CatalogEntry.isWellFormedID(id), let (entry, setting) = state.pxeEntries().first(where: { $0.0.id == id }) else {
            throw APIError(.notFound, "No entry with id \(Route.printable(id, limit: 64)) is in the menu.")
        }
        let machine = request.query.isEmpty ? MachineIdentity() : MachineIdentity(query: request.query)
        let rule = machine.isEmpty ? nil : rules.effective.rule(for: machine)
        guard let name = context.answers.templateName(for: entry, rule: rule) else {
            throw APIError(.notFound, "Entry \(id) has no answer-file template for this machine (menu file `answers`, or a host rule's).")
        }
        guard let template = context.answers.templates[name] else {
            throw APIError(.notFound, "Template \(name) is not in provision.templates.")
        }
        let wanted = request.queryValue("file")
        guard let file = wanted.map({ template.file(named: $0) }) ?? template.files.first else {
            throw APIError(.notFound, "Template \(name) has no file \(Route.printable(wanted ?? "", limit: 64)); it has \(template.files.map(\.servedName).joined(separator: ", ")).")
        }
        let variables = self.variables(machine: machine, address: request.queryValue("ip"), entry: entry, setting: setting,
                                       template: name, request: request)
        return .text(file.render(variables), contentType: file.format.contentType)
    }
}
