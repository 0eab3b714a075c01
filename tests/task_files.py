"""Task files whose range tests are hard: one finds no range, one a range it doubts."""

FLAT_TASK = """
import torch
from torch import nn
from torch.utils.data import TensorDataset
from lrkit.tasks import Task


class Prior(nn.Module):  # ignores its input: no LR can make the loss fall below the prior's
    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(2))

    def forward(self, x):
        return self.bias.expand(len(x), 2)


g = torch.Generator().manual_seed(0)
x, y = torch.randn(128, 4, generator=g), torch.arange(128) % 2
task = Task(name='flat', model=Prior, train_data=TensorDataset(x[:96], y[:96]),
            val_data=TensorDataset(x[96:], y[96:]), test_data=TensorDataset(x[96:], y[96:]),
            epochs=2, batch_size=16)
"""

SLOW_TASK = """
import torch
from torch import nn
from torch.utils.data import TensorDataset
from lrkit.tasks import Task


class SlowPrior(nn.Module):  # learns the class prior, 30x slower than its LR says
    def __init__(self):
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(2))

    def forward(self, x):
        return (self.bias / 30).expand(len(x), 2)


g = torch.Generator().manual_seed(0)
x, y = torch.randn(128, 4, generator=g), (torch.arange(128) % 4 == 0).long()
task = Task(name='slow', model=SlowPrior, train_data=TensorDataset(x[:96], y[:96]),
            val_data=TensorDataset(x[96:], y[96:]), test_data=TensorDataset(x[96:], y[96:]),
            epochs=2, batch_size=16)
"""

BREAKS_IN_TRAINING_TASK = """
import torch
from torch import nn
from torch.utils.data import TensorDataset
from lrkit.tasks import Task


class Breaks(nn.Module):  # passes the task check's one forward pass, then fails in training
    def __init__(self):
        super().__init__()
        self.linear, self.calls = nn.Linear(4, 2), 0

    def forward(self, x):
        self.calls += 1
        if self.calls > 2:
            raise RuntimeError("the model broke in training")
        return self.linear(x)


g = torch.Generator().manual_seed(0)
x, y = torch.randn(64, 4, generator=g), torch.arange(64) % 2
task = Task(name='breaks', model=Breaks, train_data=TensorDataset(x[:48], y[:48]),
            val_data=TensorDataset(x[48:], y[48:]), epochs=1, batch_size=16)
"""
