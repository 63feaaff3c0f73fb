"""One small adapter per channel behind one interface (`base.Sender`): DingTalk and WeCom
group robots, email over SMTP, SMS through Aliyun, the signed webhook. The in-app inbox needs
no adapter: its rows are the inbox."""
