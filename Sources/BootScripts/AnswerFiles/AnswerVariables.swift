import Mustache

/// What a template knows of the machine it renders for. Every name here (and only these) can
/// appear in a template; `AnswerTemplateCheck` refuses any other when the template is loaded.
package struct AnswerVariables: Sendable, Equatable {
    /// The machine's identity as iPXE sent it (`mac`, `uuid`, `serial`, `hostname`, ...), by
    /// template name. `hostname` is the rule's `vars.hostname` when it sets one.
    package var identity: [String: String] = [:]
    /// Its IPv4 or IPv6 address as nginx saw it.
    package var address: String?
    /// Labels of the machine (`hosts.labels`).
    package var labels: [String: String] = [:]
    /// Free variables of its host rule (`vars`).
    package var vars: [String: String] = [:]
    package var entryID: String
    package var entryName: String
    package var entryCommandLine: String
    /// The server's base URL (`http://boot.example.com`), as the machine reached it.
    package var server: String?
    package var template: String

    package init(entryID: String, entryName: String, entryCommandLine: String, template: String) {
        self.entryID = entryID
        self.entryName = entryName
        self.entryCommandLine = entryCommandLine
        self.template = template
    }

    /// The identity fields a template may name (MachineIdentity's, in its own terms).
    package static let identityNames = ["mac", "uuid", "serial", "hostname", "manufacturer", "product", "platform", "buildarch"]
    /// Names at the top of a template's context.
    package static let topLevelNames: Set<String> = Set(identityNames + ["ip", "labels", "vars", "entry", "server", "template"])
    /// Names under `entry.`.
    package static let entryNames: Set<String> = ["id", "name", "cmdline"]
    /// Top-level names whose members are free (any name may exist for some machine).
    package static let openMaps: Set<String> = ["labels", "vars"]

    /// The Mustache context: strings as `AnswerValue`s (quoting transforms), absent values absent.
    var context: [String: Any] {
        var context: [String: Any] = [:]
        for (name, value) in identity { context[name] = AnswerValue(value) }
        if let hostname = vars["hostname"] { context["hostname"] = AnswerValue(hostname) }
        if let address { context["ip"] = AnswerValue(address) }
        if let server { context["server"] = AnswerValue(server) }
        context["labels"] = labels.mapValues { AnswerValue($0) }
        context["vars"] = vars.mapValues { AnswerValue($0) }
        context["entry"] = ["id": AnswerValue(entryID), "name": AnswerValue(entryName), "cmdline": AnswerValue(entryCommandLine)]
        context["template"] = AnswerValue(template)
        return context
    }
}

/// A value in a template: rendered through the format's escaping; `{{shell(name)}}` gives it
/// as one POSIX shell word (single-quoted, `'` written `'\''`) for `*_command` lines. An empty
/// value counts as absent in a section (`{{#hostname}}...{{/hostname}}`).
struct AnswerValue: MustacheCustomRenderable, MustacheTransformable, CustomStringConvertible {
    let text: String

    init(_ text: String) { self.text = text }

    var renderText: String { text }
    var isNull: Bool { text.isEmpty }
    var description: String { text }

    /// Transforms a template may use (checked when it is loaded).
    static let transforms: Set<String> = ["shell", "lowercased", "uppercased"]

    func transform(_ name: String) -> Any? {
        switch name {
        case "shell": return AnswerValue(Self.shellWord(text))
        case "lowercased": return AnswerValue(text.lowercased())
        case "uppercased": return AnswerValue(text.uppercased())
        default: return nil
        }
    }

    static func shellWord(_ text: String) -> String {
        "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
}
