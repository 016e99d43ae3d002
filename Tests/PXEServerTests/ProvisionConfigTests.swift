import Foundation
@testable import PXEServer
import TestSupport
import Testing

/// `provision.templates`: read and checked with the configuration, so that start, SIGHUP and
/// check-config refuse a template that cannot work, naming the file and line.
@Suite struct ProvisionConfigTests {
    func load(templates: [String: String], rules: String = "[]", menu: String? = nil) throws(ConfigurationError) -> Configuration {
        let directory = TemporaryDirectory()
        for (name, text) in templates { directory.write(Array(text.utf8), to: "answers/" + name) }
        let menuMember = menu.map { #", "menu": {"file": "\#(directory.write(Array($0.utf8), to: "menu.json"))"}"# } ?? ""
        let json = #"{"catalog": {"roots": ["\#(directory.path)"]}, "provision": {"templates": "answers", "token_minutes": 15, "token_fetches": 2}, "hosts": {"rules": \#(rules)}\#(menuMember)}"#
        return try ConfigurationLoader.load(file: directory.write(Array(json.utf8), to: "config.json"), environment: [:])
    }

    @Test func templatesAreLoadedWithTheConfiguration() throws {
        let configuration = try load(templates: ["debian.preseed": "d-i netcfg/get_hostname string {{hostname}}\n"],
                                     rules: #"[{"name": "web", "match": {"mac": "52:54:00:12:34:56"}, "answers": "debian", "vars": {"role": "web"}}]"#)
        #expect(configuration.provision.templates.names == ["debian"])
        #expect(configuration.provision.templatesDirectory?.hasSuffix("/answers") == true, "relative to the configuration file")
        #expect(configuration.answerSettings.tokenPolicy.lifetimeSeconds == 900 && configuration.answerSettings.tokenPolicy.fetchesPerFile == 2)
        #expect(configuration.hostRules.rules.first?.policy.variables == ["role": "web"])
    }

    @Test func aTemplateThatCannotWorkRefusesTheConfigurationNamingFileAndLine() {
        do {
            _ = try load(templates: ["debian.preseed": "# ok\nd-i netcfg/get_hostname string {{hostnme}}\n"])
            Issue.record("loaded")
        } catch {
            #expect(error.key == "provision.templates")
            #expect(error.description.contains("/answers/debian.preseed") && error.description.contains("line 2: {{hostnme}}"), "\(error)")
        }
    }

    @Test func aRuleOrMenuItemNamingAMissingTemplateIsRefused() {
        #expect(throws: ConfigurationError.self) {
            _ = try load(templates: ["debian.preseed": "x\n"], rules: #"[{"name": "web", "match": {}, "answers": "ubuntu"}]"#)
        }
        do {
            _ = try load(templates: ["debian.preseed": "x\n"], menu: #"{"entries": [{"path": "*.rts.png", "answers": "rocky"}]}"#)
            Issue.record("loaded")
        } catch {
            #expect(error.key == "entries[0].answers" && error.description.contains("\"rocky\"") && error.description.contains("debian"), "\(error)")
        }
        #expect(throws: ConfigurationError.self) {
            _ = try load(templates: [:], rules: #"[{"name": "web", "match": {}, "vars": {"bad name": "x"}}]"#)
        }
    }
}
