package dev.splitstream.exit.token;

import dev.splitstream.bridge.AllowList;
import dev.splitstream.protocol.Secret;

/**
 * One tenant: its token id, secret, the targets it may reach and its limits.
 *
 * @param id token id presented in the HELLO
 * @param secret shared secret (redacts itself)
 * @param allow targets this token may reach
 * @param maxStreams most streams open at once on one of its sessions
 * @param expose what its agents may expose
 * @param maxSessions most sessions of this token held at once (attached or waiting for a resume)
 */
public record TokenPolicy(
        String id, Secret secret, AllowList allow, int maxStreams, ExposePolicy expose, int maxSessions) {}
