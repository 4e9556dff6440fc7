"""The crypto core: keyring, envelope encryption, blind indexes. No Flask here."""
