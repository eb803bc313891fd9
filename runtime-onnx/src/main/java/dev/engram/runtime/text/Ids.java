package dev.engram.runtime.text;

import java.util.Arrays;

/** A growable list of token ids. */
final class Ids {
    private int[] a = new int[64];
    private int n;

    void add(int id) {
        if (n == a.length) {
            a = Arrays.copyOf(a, 2 * n);
        }
        a[n++] = id;
    }

    void addAll(int[] ids) {
        for (int id : ids) {
            add(id);
        }
    }

    int size() {
        return n;
    }

    int get(int i) {
        return a[i];
    }

    int[] toArray() {
        return Arrays.copyOf(a, n);
    }
}
