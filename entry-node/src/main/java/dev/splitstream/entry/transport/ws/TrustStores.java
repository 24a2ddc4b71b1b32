package dev.splitstream.entry.transport.ws;

import dev.splitstream.entry.config.ConfigException;
import dev.splitstream.entry.config.EntrySettings;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.GeneralSecurityException;
import java.security.KeyStore;
import java.security.cert.Certificate;
import java.security.cert.CertificateFactory;
import java.security.cert.X509Certificate;
import java.util.Collection;
import javax.net.ssl.TrustManager;
import javax.net.ssl.TrustManagerFactory;
import javax.net.ssl.X509TrustManager;

/** Trust for wss://: the JVM's default CAs plus the CAs of a PEM file (a private CA of the exit node's ingress). */
public final class TrustStores {
    private TrustStores() {}

    /** A trust manager factory trusting the default CAs and every certificate in {@code pem}. */
    public static TrustManagerFactory withExtraCa(Path pem) {
        try {
            KeyStore store = KeyStore.getInstance(KeyStore.getDefaultType());
            store.load(null, null);
            TrustManagerFactory defaults = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            defaults.init((KeyStore) null);
            int n = 0;
            for (TrustManager tm : defaults.getTrustManagers()) {
                if (tm instanceof X509TrustManager x509) {
                    for (X509Certificate ca : x509.getAcceptedIssuers()) {
                        store.setCertificateEntry("default-" + n++, ca);
                    }
                }
            }
            Collection<? extends Certificate> extra;
            try (InputStream in = Files.newInputStream(pem)) {
                extra = CertificateFactory.getInstance("X.509").generateCertificates(in);
            }
            if (extra.isEmpty()) {
                throw new ConfigException(EntrySettings.CA_FILE, "no certificate in '" + pem + "'");
            }
            int i = 0;
            for (Certificate c : extra) {
                store.setCertificateEntry("extra-" + i++, c);
            }
            TrustManagerFactory tmf = TrustManagerFactory.getInstance(TrustManagerFactory.getDefaultAlgorithm());
            tmf.init(store);
            return tmf;
        } catch (IOException | GeneralSecurityException e) {
            throw new ConfigException(EntrySettings.CA_FILE, "cannot read CA certificates from '" + pem + "': " + e);
        }
    }
}
