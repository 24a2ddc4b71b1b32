package dev.splitstream.bridge;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import java.net.InetAddress;
import java.util.List;
import org.junit.jupiter.api.Test;

class AllowListTest {

    private static InetAddress ip(String literal) {
        return IpLiterals.parse(literal).orElseThrow();
    }

    @Test
    void emptyListAllowsNothing() {
        AllowList allow = AllowList.parse(List.of());
        assertThat(allow.isEmpty()).isTrue();
        assertThat(allow.allowsName("localhost", 22)).isFalse();
        assertThat(allow.allowsAddress(ip("127.0.0.1"), 22)).isFalse();
        assertThat(allow.choose("localhost", 22, List.of(ip("127.0.0.1")))).isEmpty();
    }

    @Test
    void hostPortMatchesOnlyThatPortCaseInsensitively() {
        AllowList allow = AllowList.parse(List.of("DB.internal:5432"));
        assertThat(allow.allowsName("db.internal", 5432)).isTrue();
        assertThat(allow.allowsName("db.INTERNAL.", 5432)).isTrue();
        assertThat(allow.allowsName("db.internal", 5433)).isFalse();
        assertThat(allow.allowsName("other.internal", 5432)).isFalse();
    }

    @Test
    void hostStarMatchesAnyPort() {
        AllowList allow = AllowList.parse(List.of("git.example:*"));
        assertThat(allow.allowsName("git.example", 1)).isTrue();
        assertThat(allow.allowsName("git.example", 65535)).isTrue();
    }

    @Test
    void ipv4CidrMatchesAddressesInRange() {
        AllowList allow = AllowList.parse(List.of("10.1.0.0/16:22", "192.168.1.7:*"));
        assertThat(allow.allowsAddress(ip("10.1.255.3"), 22)).isTrue();
        assertThat(allow.allowsAddress(ip("10.2.0.1"), 22)).isFalse();
        assertThat(allow.allowsAddress(ip("10.1.0.1"), 23)).isFalse();
        assertThat(allow.allowsAddress(ip("192.168.1.7"), 9999)).isTrue();
        assertThat(allow.allowsAddress(ip("192.168.1.8"), 9999)).isFalse();
    }

    @Test
    void ipv6EntriesInBracketsAndBareCidr() {
        AllowList allow = AllowList.parse(List.of("[::1]:22", "[fd00::/8]:*", "2001:db8::/32:443"));
        assertThat(allow.allowsAddress(ip("::1"), 22)).isTrue();
        assertThat(allow.allowsAddress(ip("::1"), 23)).isFalse();
        assertThat(allow.allowsAddress(ip("fd12:3456::1"), 80)).isTrue();
        assertThat(allow.allowsAddress(ip("fe80::1"), 80)).isFalse();
        assertThat(allow.allowsAddress(ip("2001:db8:1::5"), 443)).isTrue();
        assertThat(allow.allowsAddress(ip("2001:db9::5"), 443)).isFalse();
        // An IPv4 address never matches an IPv6 rule.
        assertThat(allow.allowsAddress(ip("127.0.0.1"), 22)).isFalse();
    }

    @Test
    void zeroPrefixMatchesEveryAddressOfThatFamily() {
        AllowList allow = AllowList.parse(List.of("0.0.0.0/0:443"));
        assertThat(allow.allowsAddress(ip("8.8.8.8"), 443)).isTrue();
        assertThat(allow.allowsAddress(ip("::1"), 443)).isFalse();
    }

    @Test
    void resolvedAddressIsCheckedWhenTheNameIsNotAllowed() {
        AllowList allow = AllowList.parse(List.of("127.0.0.0/8:*"));
        // a name that resolves into the allowed range: dialed at that address
        assertThat(allow.choose("app.local", 80, List.of(ip("10.0.0.1"), ip("127.0.0.5"))))
                .contains(ip("127.0.0.5"));
        // a name that resolves elsewhere: refused, whatever its name
        assertThat(allow.choose("evil.example", 80, List.of(ip("169.254.169.254"))))
                .isEmpty();
    }

    @Test
    void allowedNameDialsTheFirstResolvedAddress() {
        AllowList allow = AllowList.parse(List.of("db.internal:5432"));
        assertThat(allow.choose("db.internal", 5432, List.of(ip("10.9.9.9"), ip("10.9.9.10"))))
                .contains(ip("10.9.9.9"));
        assertThat(allow.choose("db.internal", 5433, List.of(ip("10.9.9.9")))).isEmpty();
    }

    @Test
    void namesNoRuleCouldAllowNeedNoLookup() {
        AllowList names = AllowList.parse(List.of("db.internal:5432"));
        assertThat(names.hasAddressRuleFor(80)).isFalse();
        AllowList cidr = AllowList.parse(List.of("10.0.0.0/8:80"));
        assertThat(cidr.hasAddressRuleFor(80)).isTrue();
        assertThat(cidr.hasAddressRuleFor(81)).isFalse();
    }

    @Test
    void badEntriesAreRejectedQuotingTheEntry() {
        assertThatThrownBy(() -> AllowList.parse(List.of("db.internal"))).hasMessageContaining("'db.internal'");
        assertThatThrownBy(() -> AllowList.parse(List.of("db:0"))).hasMessageContaining("port must be");
        assertThatThrownBy(() -> AllowList.parse(List.of("db:70000"))).hasMessageContaining("port must be");
        assertThatThrownBy(() -> AllowList.parse(List.of("10.0.0.0/33:*"))).hasMessageContaining("prefix length");
        assertThatThrownBy(() -> AllowList.parse(List.of("::1:22"))).hasMessageContaining("brackets");
        assertThatThrownBy(() -> AllowList.parse(List.of("bad host!:22"))).hasMessageContaining("not a valid host");
        assertThatThrownBy(() -> AllowList.parse(List.of("[::1:22"))).hasMessageContaining("[ipv6]");
    }

    @Test
    void ipLiteralsNeverResolveNames() {
        assertThat(IpLiterals.parse("localhost")).isEmpty();
        assertThat(IpLiterals.parse("256.1.1.1")).isEmpty();
        assertThat(IpLiterals.parse("1.2.3")).isEmpty();
        assertThat(IpLiterals.parse("[::1]")).contains(ip("::1"));
        assertThat(IpLiterals.parse("127.0.0.1")).isPresent();
    }
}
