package dev.engram.memory.lsh;

/** A growable FIFO of ints (one hash bucket's store slots, oldest first); its capacity is a power of two. */
final class IntQueue {
    private int[] items = new int[4];
    private int head;
    private int size;

    void add(int value) {
        if (size == items.length) {
            int[] grown = new int[items.length * 2];
            for (int i = 0; i < size; i++) {
                grown[i] = items[(head + i) & (items.length - 1)];
            }
            items = grown;
            head = 0;
        }
        items[(head + size) & (items.length - 1)] = value;
        size++;
    }

    IntQueue copy() {
        IntQueue c = new IntQueue();
        c.items = items.clone();
        c.head = head;
        c.size = size;
        return c;
    }

    int removeFirst() {
        if (size == 0) {
            throw new IllegalStateException("bucket is empty");
        }
        int v = items[head];
        head = (head + 1) & (items.length - 1);
        size--;
        return v;
    }

    int get(int i) {
        return items[(head + i) & (items.length - 1)];
    }

    int size() {
        return size;
    }

    void clear() {
        head = 0;
        size = 0;
    }
}
