import BootScripts
import PXECatalog
import PXEHosts
import PXESettings
import StrictJSON

/// Host rules made through the API: `GET /host-rules` lists every rule in force with where it
/// comes from; `PUT|DELETE /host-rules/{name}` keep the API's own in the settings store (shared
/// by a fleet). Rules of the configuration and of the menu file are changed there, not here.
extension CatalogAPI {
    /// The rules in force: the configuration's and the menu file's, then the API's.
    var effectiveHostRules: HostRules { hostRuleBook.effective }

    func listHostRules() -> HTTPResponse {
        let rules = effectiveHostRules.rules
        return .json(.object([("rules", .array(rules.map(\.json))), ("count", .int(Int64(rules.count)))]))
    }

    /// `PUT /host-rules/{name}` with the rule (`match`, `default`, `timeout`, `entries`, `boot`,
    /// `cmdline_append`, as in `hosts.rules`); `DELETE` removes it.
    func changeHostRule(_ text: String, request: HTTPRequest, actor: String) throws(APIError) -> HTTPResponse {
        let name = text.removingPercentEncoding ?? text
        guard (1...64).contains(name.utf8.count), !name.hasPrefix("."),
              name.unicodeScalars.allSatisfy({ $0.isASCII && ($0.properties.isAlphabetic || $0.properties.numericType != nil || "-_.".unicodeScalars.contains($0)) }) else {
            throw APIError(.badRequest, "'\(Route.printable(text))' is not a rule name; use 1 to 64 letters, digits, '-', '_' or '.' (not first).")
        }
        if let fixed = hostRuleBook.fixed.rules.first(where: { $0.name == name }) {
            let place = fixed.source == .menuFile ? "the menu file (menu.file)" : "the configuration (hosts.rules)"
            throw APIError(.conflict, "Host rule \(name) comes from \(place); change it there. Nothing was changed.")
        }
        if request.method == "DELETE" {
            guard hostRuleBook.stored[name] != nil else { throw APIError(.notFound, "No host rule named \(name) was made through the API.") }
            _ = try saving { () throws(SettingsChangeError) in try hostRuleBook.set(name: name, body: nil, actor: actor) }
            audit("\(actor) removed host rule \(name)")
            return .json(.object([("success", .bool(true)), ("name", .string(name)), ("removed", .bool(true))]))
        }
        try RequestBody.checkTransport(request)
        let members = try RequestBody.object(request, shape: "with match and any of default, timeout, entries, boot, cmdline_append")
        if let key = members.first(where: { $0.0 == "name" || $0.0 == "source" })?.0 {
            throw APIError(.badRequest, "Field '\(key)' is not part of the body: the rule's name is in the path and its source is the API.")
        }
        let rule: HostRule
        do {
            guard let parsed = try HostRules.parseRules(.array([.object([("name", .string(name))] + members)]), key: "rule",
                                                        isEntryID: CatalogEntry.isWellFormedID).first else { throw APIError(.badRequest, "The rule is empty.") }
            rule = parsed
        } catch let error as HostRulesError {
            let key = error.key.hasPrefix("rule[0].") ? String(error.key.dropFirst(8)) : error.key
            throw APIError(.badRequest, "Field '\(Route.printable(key))' \(error.reason).")
        } catch let error as APIError {
            throw error
        } catch {
            throw APIError(.badRequest, "The rule is not valid.")
        }
        if let text = rule.policy.commandLineAppend {
            if let problem = IPXEText.commandLineProblem(text) { throw APIError(.badRequest, "Field 'cmdline_append' \(problem).") }
            // Stricter than the configuration: no character iPXE could read as syntax at all.
            if text.contains(where: { "#&;|{}".contains($0) }) {
                throw APIError(.badRequest, "Field 'cmdline_append' must not contain #, &, ;, |, { or }.")
            }
        }
        var made = rule
        made.source = .api
        let others = effectiveHostRules.rules.filter { $0.name != name }
        if let conflict = HostRules(rules: others + [made]).conflicts().first {
            throw APIError(.conflict, "The rule cannot be saved: \(conflict). Nothing was changed.")
        }
        let body = JSONValue.object(members).serializedString()
        let existed = try saving { () throws(SettingsChangeError) in try hostRuleBook.set(name: name, body: body, actor: actor) }
        audit("\(actor) \(existed ? "replaced" : "made") host rule \(name)")
        return .json(made.json, status: existed ? 200 : 201)
    }
}
