"""The paper's six benchmark DNNs, and a transformer stack, as operator graphs.

Section 8 (Table 3) of arXiv 1807.05358 evaluates FlexFlow on AlexNet,
Inception-v3 and ResNet-101 (ImageNet, 224x224 / 299x299 images), RNNTC (text
classification: 4 recurrent layers + softmax, Movie Reviews), RNNLM (language
model: 2 recurrent layers + softmax, Penn Treebank) and NMT (4 recurrent layers
+ attention + softmax, WMT English-German).  The layer shapes below follow the
original architectures.  Where the paper does not state a size we assume, and
say so: LSTM layers of 1024 hidden units unrolled over 40 time steps;
vocabularies of 20,000 (RNNTC), 10,000 (RNNLM, the Penn Treebank size) and
32,000 words (NMT); NMT has a 2-layer encoder and a 2-layer decoder joined by
attention.  Convolutions fuse their batch normalisation and ReLU into one
operator, as the paper counts layers.
"""

from __future__ import annotations

from dawnlab.errors import invalid
from dawnlab.flexflow.graph import Graph, GraphBuilder

__all__ = ["alexnet", "inception_v3", "resnet101", "rnntc", "rnnlm", "nmt", "transformer",
           "mlp", "BENCHMARKS", "build"]


def _check_batch(batch_size, owner):
    if not isinstance(batch_size, int) or batch_size < 1:
        raise invalid("batch_size", owner, "a positive int", batch_size)


def alexnet(batch_size: int = 64) -> Graph:
    """AlexNet on 224x224 images: 5 convolutions, 3 fully connected layers.

    Examples
    --------
    >>> g = alexnet(64)
    >>> len(g), round(g.total_params / 1e6, 1)
    (14, 61.1)
    """
    _check_batch(batch_size, "alexnet")
    b = GraphBuilder("alexnet")
    x = b.input((batch_size, 3, 224, 224), name="images")
    x = b.conv2d(x, 64, 11, 4, 2, name="conv1")
    x = b.pool2d(x, 3, 2, name="pool1")
    x = b.conv2d(x, 192, 5, 1, 2, name="conv2")
    x = b.pool2d(x, 3, 2, name="pool2")
    x = b.conv2d(x, 384, 3, 1, 1, name="conv3")
    x = b.conv2d(x, 256, 3, 1, 1, name="conv4")
    x = b.conv2d(x, 256, 3, 1, 1, name="conv5")
    x = b.pool2d(x, 3, 2, name="pool5")
    x = b.flatten(x, name="flatten")
    x = b.linear(x, 4096, relu=True, name="fc6")
    x = b.linear(x, 4096, relu=True, name="fc7")
    x = b.linear(x, 1000, name="fc8")
    b.softmax(x, name="softmax")
    return b.build()


def inception_v3(batch_size: int = 64) -> Graph:
    """Inception-v3 on 299x299 images (stem, 3xA, B, 4xC, D, 2xE modules, classifier).

    Examples
    --------
    >>> g = inception_v3(8)
    >>> g["mixed_7c"].shape, sum(o.kind == "conv2d" for o in g)
    ((8, 2048, 8, 8), 94)
    """
    _check_batch(batch_size, "inception_v3")
    b = GraphBuilder("inception_v3")
    x = b.input((batch_size, 3, 299, 299), name="images")
    x = b.conv2d(x, 32, 3, 2)
    x = b.conv2d(x, 32, 3)
    x = b.conv2d(x, 64, 3, 1, 1)
    x = b.pool2d(x, 3, 2)
    x = b.conv2d(x, 80, 1)
    x = b.conv2d(x, 192, 3)
    x = b.pool2d(x, 3, 2)

    def module_a(x, pool_features, name):
        b1 = b.conv2d(x, 64, 1)
        b5 = b.conv2d(b.conv2d(x, 48, 1), 64, 5, 1, 2)
        b3 = b.conv2d(b.conv2d(b.conv2d(x, 64, 1), 96, 3, 1, 1), 96, 3, 1, 1)
        bp = b.conv2d(b.pool2d(x, 3, 1, 1, "avg"), pool_features, 1)
        return b.concat([b1, b5, b3, bp], 1, name=name)

    def module_c(x, c7, name):
        b1 = b.conv2d(x, 192, 1)
        b7 = b.conv2d(b.conv2d(b.conv2d(x, c7, 1), c7, (1, 7), 1, (0, 3)), 192, (7, 1), 1, (3, 0))
        d = b.conv2d(x, c7, 1)
        for out, k, p in ((c7, (7, 1), (3, 0)), (c7, (1, 7), (0, 3)), (c7, (7, 1), (3, 0)),
                          (192, (1, 7), (0, 3))):
            d = b.conv2d(d, out, k, 1, p)
        bp = b.conv2d(b.pool2d(x, 3, 1, 1, "avg"), 192, 1)
        return b.concat([b1, b7, d, bp], 1, name=name)

    def module_e(x, name):
        b1 = b.conv2d(x, 320, 1)
        s = b.conv2d(x, 384, 1)
        b3 = [b.conv2d(s, 384, (1, 3), 1, (0, 1)), b.conv2d(s, 384, (3, 1), 1, (1, 0))]
        d = b.conv2d(b.conv2d(x, 448, 1), 384, 3, 1, 1)
        bd = [b.conv2d(d, 384, (1, 3), 1, (0, 1)), b.conv2d(d, 384, (3, 1), 1, (1, 0))]
        bp = b.conv2d(b.pool2d(x, 3, 1, 1, "avg"), 192, 1)
        return b.concat([b1, *b3, *bd, bp], 1, name=name)

    x = module_a(x, 32, "mixed_5b")
    x = module_a(x, 64, "mixed_5c")
    x = module_a(x, 64, "mixed_5d")
    b3 = b.conv2d(x, 384, 3, 2)
    d = b.conv2d(b.conv2d(b.conv2d(x, 64, 1), 96, 3, 1, 1), 96, 3, 2)
    x = b.concat([b3, d, b.pool2d(x, 3, 2)], 1, name="mixed_6a")
    for i, c7 in enumerate((128, 160, 160, 192)):
        x = module_c(x, c7, f"mixed_6{'bcde'[i]}")
    b3 = b.conv2d(b.conv2d(x, 192, 1), 320, 3, 2)
    d = b.conv2d(x, 192, 1)
    d = b.conv2d(b.conv2d(d, 192, (1, 7), 1, (0, 3)), 192, (7, 1), 1, (3, 0))
    d = b.conv2d(d, 192, 3, 2)
    x = b.concat([b3, d, b.pool2d(x, 3, 2)], 1, name="mixed_7a")
    x = module_e(x, "mixed_7b")
    x = module_e(x, "mixed_7c")
    x = b.pool2d(x, 0, mode="avg", name="avgpool")
    x = b.flatten(x, name="flatten")
    x = b.linear(x, 1000, name="fc")
    b.softmax(x, name="softmax")
    return b.build()


def resnet101(batch_size: int = 64) -> Graph:
    """ResNet-101 on 224x224 images: bottleneck blocks [3, 4, 23, 3].

    Examples
    --------
    >>> g = resnet101(8)
    >>> round(g.total_params / 1e6, 1), g["avgpool"].shape
    (44.5, (8, 2048, 1, 1))
    """
    _check_batch(batch_size, "resnet101")
    b = GraphBuilder("resnet101")
    x = b.input((batch_size, 3, 224, 224), name="images")
    x = b.conv2d(x, 64, 7, 2, 3, name="conv1")
    x = b.pool2d(x, 3, 2, 1, name="pool1")
    for stage, (width, blocks) in enumerate(zip((64, 128, 256, 512), (3, 4, 23, 3))):
        for i in range(blocks):
            stride = 2 if (i == 0 and stage > 0) else 1
            tag = f"l{stage + 1}b{i}"
            y = b.conv2d(x, width, 1, name=f"{tag}_c1")
            y = b.conv2d(y, width, 3, stride, 1, name=f"{tag}_c2")
            y = b.conv2d(y, 4 * width, 1, relu=False, name=f"{tag}_c3")
            if i == 0:
                x = b.conv2d(x, 4 * width, 1, stride, relu=False, name=f"{tag}_down")
            x = b.add_(x, y, name=f"{tag}_add")
    x = b.pool2d(x, 0, mode="avg", name="avgpool")
    x = b.flatten(x, name="flatten")
    x = b.linear(x, 1000, name="fc")
    b.softmax(x, name="softmax")
    return b.build()


def _lstm_stack(b: GraphBuilder, steps: list[str], layers: int, hidden: int, prefix: str) -> list[str]:
    for layer in range(layers):
        h = None
        out = []
        for t, x in enumerate(steps):
            h = b.lstm_cell(x, h, hidden, name=f"{prefix}{layer}_t{t}", param_group=f"{prefix}{layer}")
            out.append(h)
        steps = out
    return steps


def _embed_steps(b, batch_size, seq_len, vocab, hidden, prefix):
    ids = b.input((batch_size, seq_len), name=f"{prefix}tokens")
    e = b.embedding(ids, vocab, hidden, name=f"{prefix}embed")
    return [b.select(e, 1, t, name=f"{prefix}x_t{t}") for t in range(seq_len)]


def rnntc(batch_size: int = 64, seq_len: int = 40, hidden: int = 1024, vocab: int = 20000,
          classes: int = 2) -> Graph:
    """RNN text classification: embedding, 4 LSTM layers unrolled, softmax over classes.

    Examples
    --------
    >>> g = rnntc(8, seq_len=5, hidden=32, vocab=100)
    >>> g["lstm3_t4"].shape, g["softmax"].shape
    ((8, 32), (8, 2))
    """
    _check_batch(batch_size, "rnntc")
    b = GraphBuilder("rnntc")
    steps = _lstm_stack(b, _embed_steps(b, batch_size, seq_len, vocab, hidden, ""), 4, hidden, "lstm")
    x = b.linear(steps[-1], classes, name="fc")
    b.softmax(x, name="softmax")
    return b.build()


def rnnlm(batch_size: int = 64, seq_len: int = 40, hidden: int = 1024, vocab: int = 10000) -> Graph:
    """RNN language model: embedding, 2 LSTM layers unrolled, a softmax over the vocabulary
    at every step (one shared projection over the stacked outputs).

    Examples
    --------
    >>> g = rnnlm(8, seq_len=5, hidden=32, vocab=100)
    >>> g["softmax"].shape
    (8, 5, 100)
    """
    _check_batch(batch_size, "rnnlm")
    b = GraphBuilder("rnnlm")
    steps = _lstm_stack(b, _embed_steps(b, batch_size, seq_len, vocab, hidden, ""), 2, hidden, "lstm")
    x = b.stack(steps, name="outputs")
    x = b.linear(x, vocab, name="proj")
    b.softmax(x, name="softmax")
    return b.build()


def nmt(batch_size: int = 64, seq_len: int = 40, hidden: int = 1024, vocab: int = 32000) -> Graph:
    """Neural machine translation: 2-layer LSTM encoder, 2-layer LSTM decoder, attention of the
    decoder over the encoder, and a softmax over the target vocabulary.

    Examples
    --------
    >>> g = nmt(8, seq_len=4, hidden=32, vocab=100)
    >>> g["attention"].shape, g["softmax"].shape
    ((8, 4, 32), (8, 4, 100))
    """
    _check_batch(batch_size, "nmt")
    b = GraphBuilder("nmt")
    enc = _lstm_stack(b, _embed_steps(b, batch_size, seq_len, vocab, hidden, "src_"), 2, hidden, "enc")
    dec = _lstm_stack(b, _embed_steps(b, batch_size, seq_len, vocab, hidden, "tgt_"), 2, hidden, "dec")
    e = b.stack(enc, name="enc_outputs")
    d = b.stack(dec, name="dec_outputs")
    a = b.attention(d, e, e, heads=1, name="attention")
    x = b.linear(b.concat([a, d], 2, name="context"), hidden, relu=True, name="combine")
    x = b.linear(x, vocab, name="proj")
    b.softmax(x, name="softmax")
    return b.build()


def transformer(batch_size: int = 16, layers: int = 4, d_model: int = 1024, heads: int = 16,
                seq_len: int = 128, vocab: int = 32000) -> Graph:
    """A stack of pre-norm transformer blocks with a language-model head.

    Examples
    --------
    >>> g = transformer(2, layers=2, d_model=64, heads=4, seq_len=16, vocab=100)
    >>> g["block1_ffn2"].shape
    (2, 16, 64)
    """
    _check_batch(batch_size, "transformer")
    b = GraphBuilder("transformer")
    ids = b.input((batch_size, seq_len), name="tokens")
    x = b.embedding(ids, vocab, d_model, name="embed")
    for i in range(layers):
        t = f"block{i}"
        h = b.layernorm(x, name=f"{t}_ln1")
        q, k, v = (b.linear(h, d_model, name=f"{t}_{n}") for n in "qkv")
        a = b.attention(q, k, v, heads, name=f"{t}_attn")
        x = b.add_(x, b.linear(a, d_model, name=f"{t}_out"), name=f"{t}_res1")
        h = b.layernorm(x, name=f"{t}_ln2")
        h = b.linear(h, 4 * d_model, relu=True, name=f"{t}_ffn1")
        x = b.add_(x, b.linear(h, d_model, name=f"{t}_ffn2"), name=f"{t}_res2")
    x = b.linear(b.layernorm(x, name="ln_f"), vocab, name="lm_head")
    b.softmax(x, name="softmax")
    return b.build()


def mlp(batch_size: int = 64, sizes: tuple[int, ...] = (784, 1024, 1024, 10)) -> Graph:
    """A small multilayer perceptron (for the measured-vs-simulated check).

    Examples
    --------
    >>> mlp(32, (16, 8, 4))["fc1"].shape
    (32, 4)
    """
    _check_batch(batch_size, "mlp")
    b = GraphBuilder("mlp")
    x = b.input((batch_size, sizes[0]), name="x")
    for i, n in enumerate(sizes[1:]):
        x = b.linear(x, n, relu=i < len(sizes) - 2, name=f"fc{i}")
    b.softmax(x, name="softmax")
    return b.build()


BENCHMARKS = {"alexnet": alexnet, "inception_v3": inception_v3, "resnet101": resnet101,
              "rnntc": rnntc, "rnnlm": rnnlm, "nmt": nmt}


def build(name: str, batch_size: int = 64, **kwargs) -> Graph:
    """Build a benchmark (or ``"transformer"``, ``"mlp"``) graph by name.

    Examples
    --------
    >>> build("alexnet", 8).name
    'alexnet'
    """
    table = dict(BENCHMARKS, transformer=transformer, mlp=mlp)
    if name not in table:
        raise invalid("name", "build", f"one of {sorted(table)}", name)
    return table[name](batch_size, **kwargs)
