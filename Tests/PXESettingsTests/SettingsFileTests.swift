import Foundation
import PXECatalog
import PXESettings
import TestSupport
import Testing

@Suite struct SettingsFileTests {
    let sample = PXESettings(byID: [
        "0123456789ab": PXESetting(enabled: false, bootOrder: 1, menuName: "Rescue \"quoted\"", menuDescription: nil),
        "00000000000f": PXESetting(enabled: true, bootOrder: 0),
    ])

    @Test func writesVersionedReadableJSON() throws {
        let directory = TemporaryDirectory()
        let file = SettingsFile(directory: directory.path)
        try file.save(sample)
        let text = try String(contentsOfFile: file.path, encoding: .utf8)
        #expect(text == """
        {
          "format": "pxe-catalog-settings",
          "version": 1,
          "entries": {
            "00000000000f": {
              "enabled": true,
              "boot_order": 0,
              "menu_name": null,
              "menu_description": null
            },
            "0123456789ab": {
              "enabled": false,
              "boot_order": 1,
              "menu_name": "Rescue \\"quoted\\"",
              "menu_description": null
            }
          }
        }

        """)
        #expect(try file.load() == (sample, .primary))
    }

    /// A fleet node's local copy keeps each entry's revision and the store's.
    @Test func theLocalCopyKeepsRevisions() throws {
        let directory = TemporaryDirectory()
        let file = SettingsFile(directory: directory.path, name: "settings-copy.json")
        var settings = sample
        settings["0123456789ab"]!.revision = 41
        try file.save(settings, storeRevision: 42)
        let (contents, outcome) = try file.loadContents()
        #expect(outcome == .primary)
        #expect(contents == SettingsFile.Contents(settings: settings, storeRevision: 42))
        #expect(contents.settings["00000000000f"]?.revision == 0)
    }

    @Test func missingFileMeansAFreshInstall() throws {
        #expect(try SettingsFile(directory: TemporaryDirectory().path).load() == (PXESettings(), .fresh))
    }

    @Test func keepsThePreviousVersionAsBackupAndLeavesNoTemporaryFiles() throws {
        let directory = TemporaryDirectory()
        let file = SettingsFile(directory: directory.path)
        try file.save(PXESettings(byID: ["00000000000f": PXESetting(bootOrder: 0)]))
        let first = try Data(contentsOf: URL(fileURLWithPath: file.path))
        try file.save(sample)
        #expect(try Data(contentsOf: URL(fileURLWithPath: file.backupPath)) == first)
        #expect(try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted() == ["settings.json", "settings.json.bak"])
    }

    @Test(arguments: ["", "{", "[]", #"{"format":"other","version":1,"entries":{}}"#,
                      #"{"format":"pxe-catalog-settings","version":1,"entries":{"xyz":{"enabled":true,"boot_order":0}}}"#,
                      #"{"format":"pxe-catalog-settings","version":1,"entries":{"0123456789ab":{"enabled":1,"boot_order":0}}}"#])
    func fallsBackToTheBackupWhenThePrimaryIsCorrupt(_ corrupt: String) throws {
        let directory = TemporaryDirectory()
        let file = SettingsFile(directory: directory.path)
        try file.save(PXESettings(byID: ["00000000000f": PXESetting(bootOrder: 0)]))
        try file.save(sample)
        try corrupt.write(toFile: file.path, atomically: false, encoding: .utf8)
        let (settings, outcome) = try file.load()
        #expect(settings == PXESettings(byID: ["00000000000f": PXESetting(bootOrder: 0)]))
        guard case let .backup(reason) = outcome else { Issue.record("expected the backup, got \(outcome)"); return }
        #expect(reason.contains(file.path))
    }

    @Test func refusesToLoadWhenPrimaryAndBackupAreBothBad() throws {
        let directory = TemporaryDirectory()
        let file = SettingsFile(directory: directory.path)
        try "{garbage".write(toFile: file.path, atomically: false, encoding: .utf8)
        try "".write(toFile: file.backupPath, atomically: false, encoding: .utf8)
        #expect { try file.load() } throws: { error in
            let text = (error as? SettingsLoadError)?.description ?? ""
            return text.contains(file.path) && text.contains(file.backupPath)
        }
    }

    @Test func refusesAFileFromANewerVersion() throws {
        let directory = TemporaryDirectory()
        let file = SettingsFile(directory: directory.path)
        try #"{"format":"pxe-catalog-settings","version":2,"entries":{}}"#.write(toFile: file.path, atomically: false, encoding: .utf8)
        #expect { try file.load() } throws: { error in
            (error as? SettingsLoadError)?.description.contains("version 2") == true
        }
    }
}

extension PXESettings: CustomStringConvertible {
    public var description: String { "\(byID)" }
}
