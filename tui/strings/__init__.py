"""The UI's strings, one table per language (``en``, ``ru``); ``tui.i18n.t`` looks them up."""

#: the training settings the Train form explains in a tooltip (tui/rooms/train/): English
#: takes each one's help from its TrainConfig field, as `nastavnik train --help` prints it
TRAIN_HELP_FIELDS = ('preset', 'method', 'base', 'max_steps', 'epochs', 'lr', 'lora_r', 'max_seq_len', 'batch_size', 'load_in_4bit', 'backend', 'dtype',
                     'template', 'eval_steps', 'early_stop_patience', 'judge')
