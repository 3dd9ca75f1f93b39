#!/usr/bin/env python3
"""PyTorch reference for bench/throughput: the IB-INN MNIST / CIFAR-10 generative classifiers
(same layers, widths and parameter counts as trustgc's ibinn-mnist / ibinn-cifar10 presets),
trained with the same IB loss and SGD step, and run for inference, on synthetic batches.

Development tool only (Debian: apt-get install python3-torch). Prints one JSON object.

    python3 bench/torch/ibinn_throughput.py --arch ibinn-mnist --threads 2 --train-batch 32
"""
import argparse
import json
import math
import resource
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------- subnets (IBINN_SMALL.md §1.3)

def basic(cin, width, cout, dropout, relu_first):
    layers = [nn.ReLU()] if relu_first else []
    layers += [
        nn.Conv2d(cin, width, 3, padding=1, bias=False), nn.BatchNorm2d(width, eps=1e-4), nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=1, bias=False), nn.BatchNorm2d(width, eps=1e-4), nn.ReLU(),
        nn.Dropout2d(dropout), nn.Conv2d(width, cout, 1),
    ]
    return nn.Sequential(*layers)


def strided(cin, width, cout):
    return nn.Sequential(
        nn.Conv2d(cin, width, 3, padding=1, bias=False), nn.BatchNorm2d(width, eps=1e-4), nn.ReLU(),
        nn.Conv2d(width, width, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(width, eps=1e-4), nn.ReLU(),
        nn.Conv2d(width, cout, 1),
    )


def fc(cin, width, cout, dropout):
    return nn.Sequential(nn.Linear(cin, width), nn.ReLU(), nn.Dropout(dropout), nn.Linear(width, cout))


# ---------------------------------------------------------------- invertible blocks

class AioBlock(nn.Module):
    """Affine coupling, 0.7·tanh(0.1·s), then a fixed rotation and exp-ActNorm."""

    def __init__(self, c, width, dropout, relu_first, act_norm):
        super().__init__()
        self.c1, self.c2 = c - c // 2, c // 2
        self.s = basic(self.c1, width, 2 * self.c2, dropout, relu_first)
        q, _ = torch.linalg.qr(torch.randn(c, c))
        self.register_buffer('w', q.reshape(c, c, 1, 1))
        self.gamma = nn.Parameter(torch.full((1, c, 1, 1), math.log(act_norm)))
        self.offset = nn.Parameter(torch.zeros(1, c, 1, 1))

    def forward(self, x):
        x1, x2 = x[:, :self.c1], x[:, self.c1:]
        a = self.s(x1)
        ls = 0.7 * torch.tanh(0.1 * a[:, :self.c2])
        y2 = x2 * torch.exp(ls) + a[:, self.c2:]
        v = F.conv2d(torch.cat([x1, y2], 1), self.w)
        out = v * torch.exp(self.gamma) + self.offset
        logdet = ls.sum((1, 2, 3)) + x.shape[2] * x.shape[3] * self.gamma.sum()
        return out, logdet


def down(x):
    """Space-to-depth: channel c → 4c + (0,0), (0,1), (1,0), (1,1) of each 2×2 cell."""
    n, c, h, w = x.shape
    return x.reshape(n, c, h // 2, 2, w // 2, 2).permute(0, 1, 3, 5, 2, 4).reshape(n, 4 * c, h // 2, w // 2)


class DownBlock(nn.Module):
    """IB-INN downsampling coupling (no ActNorm, no mixing): C1 = ⌊C/2⌋ first."""

    def __init__(self, c, width, dropout):
        super().__init__()
        self.c1, self.c2 = c // 2, c - c // 2
        self.s_hi = strided(self.c1, width, 8 * self.c2)
        self.s_lo = basic(4 * self.c2, width, 8 * self.c1, dropout, False)

    def forward(self, u):
        u1, u2 = u[:, :self.c1], u[:, self.c1:]
        a1 = self.s_hi(u1)
        k2 = 4 * self.c2
        s1 = 0.7 * torch.tanh(0.2 * a1[:, :k2])
        y2 = down(u2) * torch.exp(s1) + a1[:, k2:]
        a2 = self.s_lo(y2)
        k1 = 4 * self.c1
        s2 = 0.7 * torch.tanh(0.2 * a2[:, :k1])
        y1 = down(u1) * torch.exp(s2) + a2[:, k1:]
        return torch.cat([y1, y2], 1), s1.sum((1, 2, 3)) + s2.sum((1, 2, 3))


class Haar(nn.Module):
    def forward(self, x):
        a, b = x[:, :, 0::2, 0::2], x[:, :, 0::2, 1::2]
        c, d = x[:, :, 1::2, 0::2], x[:, :, 1::2, 1::2]
        out = torch.cat([a + b + c + d, a - b + c - d, a + b - c - d, a - b - c + d], 1) * 0.5
        return out, torch.zeros(x.shape[0])


class DctFlatten(nn.Module):
    """Per-channel 2-D DCT of an N×N map (unnormalised official variant, ÷ 2(N+1)/0.5), flattened."""

    def __init__(self, n):
        super().__init__()
        k = torch.arange(n, dtype=torch.float32)
        basis = torch.cos(math.pi / n * (k[None, :] + 0.5) * k[:, None])
        self.register_buffer('d2', torch.kron(basis, basis) / (2 * (n + 1) / 0.5))

    def forward(self, x):
        n, c, h, w = x.shape
        y = x.reshape(n, c, h * w) @ self.d2.t()
        return y.reshape(n, -1), torch.full((n,), h * w * c * math.log(0.5))


class GlowFc(nn.Module):
    def __init__(self, dims, width, dropout):
        super().__init__()
        self.l1, self.l2 = dims // 2, dims - dims // 2
        self.s1 = fc(self.l1, width, 2 * self.l2, dropout)
        self.s2 = fc(self.l2, width, 2 * self.l1, dropout)
        g = torch.Generator().manual_seed(0)
        self.register_buffer('perm', torch.randperm(dims, generator=g))

    @staticmethod
    def e(s):
        return 2.0 * 0.636 * torch.atan(s / 2.0)

    def forward(self, x):
        x = x[:, self.perm]
        x1, x2 = x[:, :self.l1], x[:, self.l1:]
        r2 = self.s2(x2)
        e2 = self.e(r2[:, :self.l1])
        y1 = x1 * torch.exp(e2) + r2[:, self.l1:]
        r1 = self.s1(y1)
        e1 = self.e(r1[:, :self.l2])
        y2 = x2 * torch.exp(e1) + r1[:, self.l2:]
        return torch.cat([y1, y2], 1), e1.sum(1) + e2.sum(1)


LAYOUTS = {
    # (channels, size, haar, stages [(blocks, width, dropout, first_relu_first)], act_norm)
    'ibinn-mnist': (1, 28, True, [(24, 32, 0.0, True), (24, 64, 0.25, True)], 0.8),
    'ibinn-cifar10': (3, 32, False, [(8, 16, 0.0, False), (24, 32, 0.0, True), (24, 64, 0.25, True)], 0.75),
}


class IbInn(nn.Module):
    def __init__(self, arch, n_classes=10):
        super().__init__()
        c, size, haar, stages, act_norm = LAYOUTS[arch]
        self.input_shape = (c, size, size)
        blocks = []
        if haar:
            blocks.append(Haar())
            c, size = 4 * c, size // 2
        for i, (n_blocks, width, dropout, first_relu) in enumerate(stages):
            for b in range(n_blocks):
                blocks.append(AioBlock(c, width, dropout, b > 0 or first_relu, act_norm))
            if i < len(stages) - 1:
                blocks.append(DownBlock(c, 2 * width, dropout))
                c, size = 4 * c, size // 2
        blocks.append(DctFlatten(size))
        self.dims = c * size * size
        blocks.append(GlowFc(self.dims, 1024, 0.5))
        self.blocks = nn.ModuleList(blocks)
        self.mu = nn.Parameter(torch.randn(n_classes, self.dims) * 0.1)
        self.phi = nn.Parameter(torch.zeros(n_classes))

    def forward(self, x):
        logdet = torch.zeros(x.shape[0])
        for block in self.blocks:
            x, ld = block(x)
            logdet = logdet + ld
        d = (x * x).sum(1, keepdim=True) + (self.mu * self.mu).sum(1)[None] - 2 * x @ self.mu.t()
        return x, logdet, -0.5 * d

    def ib_loss(self, x, labels, beta=1.0, smoothing=0.01):
        z, logdet, logits = self(x)
        logw = F.log_softmax(self.phi, 0)
        lx = (-torch.logsumexp(logits + logw, 1) - logdet).mean() / self.dims
        target = F.one_hot(labels, logits.shape[1]).float() * (1 - smoothing) + smoothing / logits.shape[1]
        ly = (target * (F.log_softmax(logits + logw, 1) - logw.detach())).sum(1).mean()
        return 2 / (1 + beta) * lx - 2 * beta / (1 + beta) * ly


def timed(fn, warmup, rounds):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    times.sort()
    return times[0], times[len(times) // 2]


def main():
    p = argparse.ArgumentParser()
    p.add_argument('--arch', default='ibinn-mnist', choices=list(LAYOUTS))
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--train-batch', type=int, default=32)
    p.add_argument('--infer-batch', type=int, default=100)
    p.add_argument('--rounds', type=int, default=5)
    a = p.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    model = IbInn(a.arch)
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=1e-4)

    x = torch.randn(a.train_batch, *model.input_shape)
    labels = torch.randint(0, 10, (a.train_batch,))

    def train_step():
        opt.zero_grad()
        loss = model.ib_loss(x, labels)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 8.0)
        opt.step()

    model.train()
    tb, tm = timed(train_step, 2, a.rounds)
    xi = torch.randn(a.infer_batch, *model.input_shape)
    model.eval()

    def infer():
        with torch.no_grad():
            model(xi)

    ib, im = timed(infer, 1, a.rounds)
    print(json.dumps({
        'engine': 'pytorch', 'version': torch.__version__, 'arch': a.arch, 'threads': a.threads,
        'parameters': params, 'trainBatch': a.train_batch, 'inferBatch': a.infer_batch,
        'trainImagesPerSecond': a.train_batch / tb, 'trainImagesPerSecondMedian': a.train_batch / tm,
        'inferImagesPerSecond': a.infer_batch / ib, 'inferImagesPerSecondMedian': a.infer_batch / im,
        'peakRssMB': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))


if __name__ == '__main__':
    main()
