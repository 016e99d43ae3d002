import BootScripts
import PXECatalog
import PXEHosts

/// What the configuration says about answer files.
package struct AnswerSettings: Sendable {
    package var templates = AnswerTemplateSet()
    package var tokenPolicy = AnswerTokenBook.Policy()
    /// The template the menu file gives an entry (`answers` of its item); nil: none.
    package var entryTemplate: @Sendable (CatalogEntry) -> String? = { _ in nil }
    /// Where machines that read their menu by TFTP (GRUB) reach nginx for their answers:
    /// `menu.public_base_url`, else the network boot's (the server's address and nginx's
    /// port); nil: GRUB's menus carry no answer-file URL.
    package var tftpMachinesBaseURL: String?

    package init(templates: AnswerTemplateSet = AnswerTemplateSet(), tokenPolicy: AnswerTokenBook.Policy = AnswerTokenBook.Policy(),
                 entryTemplate: @escaping @Sendable (CatalogEntry) -> String? = { _ in nil }, tftpMachinesBaseURL: String? = nil) {
        self.tftpMachinesBaseURL = tftpMachinesBaseURL
        self.templates = templates
        self.tokenPolicy = tokenPolicy
        self.entryTemplate = entryTemplate
    }

    /// The template a machine under `rule` gets for `entry`: the rule's, else the entry's. Its
    /// name even when it is not loaded (a rule made through the API may name a missing one).
    package func templateName(for entry: CatalogEntry, rule: HostRule?) -> String? {
        rule?.policy.answers ?? entryTemplate(entry)
    }
}
