import BootScripts
import Foundation
import PXECatalog
import PXEHosts
import PXESettings
import StrictJSON

/// The menu file (`menu.file`): the desired menu and host rules that config management keeps.
///
///     {"entries": [{"id": "1a2b3c4d5e6f", "enabled": true, "name": "Debian 13 installer"},
///                  {"path": "rescue/*.rts.png", "enabled": true, "cmdline": "console=ttyS0"}],
///      "api_may_override": ["enabled"],
///      "hosts": {"rules": [...], "labels": {...}}}
///
/// Read strictly: an unknown key, a wrong type or a bad value is an error naming the key.
package struct MenuFile: Sendable, Equatable {
    package var menu: DesiredMenu
    /// Host rules from the file (source "menu file"), joined to `hosts.rules`.
    package var rules: [HostRule]
    /// Labels from the file, joined to `hosts.labels` (the file's win for the same MAC).
    package var labels: [String: [String: String]]

    static let nameLimit = 80
    static let descriptionLimit = 200
    /// A file larger than this is refused rather than read (it is written by tools, not by hand).
    static let sizeLimit = 16 << 20

    package static func load(path: String) throws(ConfigurationError) -> MenuFile {
        let source = ConfigurationError.Source.file(path)
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              let data = FileManager.default.contents(atPath: path) else {
            throw ConfigurationError(source: source, key: "(file)", reason: "cannot be read: the file named by menu.file does not exist or is not readable")
        }
        guard (attributes[.size] as? Int ?? 0) <= sizeLimit else {
            throw ConfigurationError(source: source, key: "(file)", reason: "is larger than \(sizeLimit >> 20) MiB")
        }
        return try load(data: data, fileName: (path as NSString).lastPathComponent, source: source)
    }

    /// A menu file's bytes (e.g. from standard input), named `fileName` in messages.
    package static func load(data: Data, fileName: String, source: ConfigurationError.Source) throws(ConfigurationError) -> MenuFile {
        guard data.count <= sizeLimit else {
            throw ConfigurationError(source: source, key: "(file)", reason: "is larger than \(sizeLimit >> 20) MiB")
        }
        let document: JSONValue
        do {
            document = try JSONParser.parse([UInt8](data))
        } catch {
            throw ConfigurationError(source: source, key: "(file)", reason: "is not valid JSON: \(error.description)")
        }
        return try parse(document, fileName: fileName, source: source)
    }

    package static func parse(_ document: JSONValue, fileName: String, source: ConfigurationError.Source) throws(ConfigurationError) -> MenuFile {
        func fail(_ key: String, _ reason: String) -> ConfigurationError { ConfigurationError(source: source, key: key, reason: reason) }
        guard case let .object(members) = document else { throw fail("(file)", "must be a JSON object with \"entries\", not a \(document.typeName)") }
        var items: [DesiredMenu.Item] = []
        var overridable: Set<DesiredMenu.Field> = []
        var rules: [HostRule] = []
        var labels: [String: [String: String]] = [:]
        for (key, value) in members {
            switch key {
            case "entries":
                guard case let .array(list) = value else { throw fail("entries", "must be an array of objects, not a \(value.typeName)") }
                for (index, element) in list.enumerated() { items.append(try item(element, key: "entries[\(index)]", fail: fail)) }
            case "api_may_override":
                guard case let .array(list) = value else { throw fail(key, "must be an array of field names, not a \(value.typeName)") }
                for element in list {
                    guard case let .string(name) = element, let field = DesiredMenu.Field(rawValue: name), field != .bootOrder else {
                        throw fail(key, "may list \"enabled\", \"name\", \"description\" and \"cmdline\" (the file's order is always the menu's), not \(shown(element))")
                    }
                    overridable.insert(field)
                }
            case "hosts":
                guard case let .object(hostMembers) = value else { throw fail(key, "must be an object with \"rules\" and \"labels\", not a \(value.typeName)") }
                for (hostKey, hostValue) in hostMembers {
                    do {
                        switch hostKey {
                        case "rules":
                            rules = try HostRules.parseRules(hostValue, key: "hosts.rules", isEntryID: CatalogEntry.isWellFormedID)
                                .map { var rule = $0; rule.source = .menuFile; return rule }
                        case "labels":
                            labels = try HostRules.parseLabels(hostValue, key: "hosts.labels")
                        default:
                            throw fail("hosts.\(hostKey)", "is not a known key; use rules or labels")
                        }
                    } catch let error as HostRulesError {
                        throw fail(error.key, error.reason)
                    } catch let error as ConfigurationError {
                        throw error
                    } catch {
                        throw fail("hosts", "\(error)")
                    }
                }
                for rule in rules {
                    if let text = rule.policy.commandLineAppend, let problem = IPXEText.commandLineProblem(text) {
                        throw fail("hosts.rules (rule \"\(rule.name)\").cmdline_append", problem)
                    }
                }
            default:
                throw fail(key, "is not a known key; use entries, api_may_override or hosts")
            }
        }
        return MenuFile(menu: DesiredMenu(items: items, apiMayOverride: overridable, fileName: fileName), rules: rules, labels: labels)
    }

    private static func item(_ value: JSONValue, key: String, fail: (String, String) -> ConfigurationError) throws(ConfigurationError) -> DesiredMenu.Item {
        guard case let .object(members) = value else { throw fail(key, "must be an object with \"id\" or \"path\", not a \(value.typeName)") }
        var selector: DesiredMenu.Selector?
        var item = DesiredMenu.Item(selector: .id(""))
        for (field, fieldValue) in members {
            let at = "\(key).\(field)"
            switch field {
            case "id":
                guard case let .string(id) = fieldValue, CatalogEntry.isWellFormedID(id) else {
                    throw fail(at, "must be an entry id of 12 lowercase hex digits, not \(shown(fieldValue))")
                }
                guard selector == nil else { throw fail(at, "cannot be given with \"path\"; an item picks entries by one of them") }
                selector = .id(id)
            case "path":
                guard case let .string(pattern) = fieldValue, !pattern.isEmpty, !pattern.hasPrefix("/"), pattern.utf8.count <= 1024,
                      !pattern.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
                    throw fail(at, "must be a glob relative to a catalog root (such as \"rescue/*.rts.png\"), not \(shown(fieldValue))")
                }
                guard selector == nil else { throw fail(at, "cannot be given with \"id\"; an item picks entries by one of them") }
                selector = .path(pattern)
            case "enabled":
                guard case let .bool(flag) = fieldValue else { throw fail(at, "must be true or false, not a \(fieldValue.typeName)") }
                item.enabled = flag
            case "name":
                item.name = try text(fieldValue, at: at, limit: nameLimit, fail: fail)
            case "description":
                item.description = try text(fieldValue, at: at, limit: descriptionLimit, fail: fail)
            case "cmdline":
                let change = try text(fieldValue, at: at, limit: 4096, fail: fail)
                if case let .set(line) = change, let problem = IPXEText.commandLineProblem(line) { throw fail(at, problem) }
                item.commandLine = change
            case "answers":
                guard case let .string(template) = fieldValue, AnswerTemplateSet.isTemplateName(template) else {
                    throw fail(at, "must name an answer-file template of provision.templates (1 to 64 letters, digits, '-', '_' or '.'), not \(shown(fieldValue))")
                }
                item.answers = template
            default:
                throw fail(at, "is not a known key; use id or path, enabled, name, description, cmdline, answers")
            }
        }
        guard let selector else { throw fail(key, "needs \"id\" or \"path\" to say which entries it is about") }
        item.selector = selector
        return item
    }

    /// A value as JSON, cut short, for messages.
    private static func shown(_ value: JSONValue) -> String {
        let text = value.serializedString()
        return text.count > 60 ? String(text.prefix(60)) + "..." : text
    }

    /// A text setting: a string (no control characters, at most `limit` characters) or null
    /// for the container's own.
    private static func text(_ value: JSONValue, at key: String, limit: Int, fail: (String, String) -> ConfigurationError) throws(ConfigurationError) -> FieldChange<String> {
        switch value {
        case .null: return .reset
        case let .string(text):
            guard text.unicodeScalars.count <= limit else { throw fail(key, "must be at most \(limit) characters") }
            guard !text.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else { throw fail(key, "must not contain control characters") }
            return .set(text)
        default:
            throw fail(key, "must be a string or null, not a \(value.typeName)")
        }
    }
}
